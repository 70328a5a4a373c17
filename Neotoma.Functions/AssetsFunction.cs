using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Functions.Http;
using Neotoma.Pages;

namespace Neotoma.Functions;

/// <summary>The pages' static files, from this origin (their policy allows nothing else): the one stylesheet and the copy-button script.</summary>
public sealed class AssetsFunction
{
    [Function("Stylesheet")]
    public IActionResult Stylesheet(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "neotoma.css")] HttpRequest req) =>
        new AssetResult(StaticAsset.Stylesheet);

    [Function("ConnectionsScript")]
    public IActionResult ConnectionsScript(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "connections.js")] HttpRequest req) =>
        new AssetResult(StaticAsset.CopyScript);
}
