using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>RFC 9728 metadata at the root and at the path of the resource (/mcp), without authentication.</summary>
public sealed class ProtectedResourceMetadataFunction(DiscoveryDocuments discovery)
{
    [Function("ProtectedResourceMetadata")]
    public IActionResult Root(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "options", Route = ".well-known/oauth-protected-resource")] HttpRequest req) => Serve(req, root: true);

    [Function("ProtectedResourceMetadataMcp")]
    public IActionResult Mcp(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "options", Route = ".well-known/oauth-protected-resource/mcp")] HttpRequest req) => Serve(req, root: false);

    private IActionResult Serve(HttpRequest req, bool root) =>
        Cors.PublicApi(req, "GET") ?? new JsonResult(discovery.ProtectedResource(root));
}
