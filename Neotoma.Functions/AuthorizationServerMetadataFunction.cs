using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>RFC 8414 metadata, served without authentication.</summary>
public sealed class AuthorizationServerMetadataFunction(DiscoveryDocuments discovery)
{
    [Function("AuthorizationServerMetadata")]
    public IActionResult Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "options", Route = ".well-known/oauth-authorization-server")] HttpRequest req) =>
        Cors.PublicApi(req, "GET") ?? new JsonResult(discovery.AuthorizationServer());
}
