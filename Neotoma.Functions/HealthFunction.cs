using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.Health;

namespace Neotoma.Functions;

public sealed class HealthFunction(HealthService health)
{
    [Function("Health")]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "api/health")] HttpRequest req,
        CancellationToken cancellationToken)
    {
        var report = await health.CheckAsync(cancellationToken);
        req.HttpContext.Response.Headers.CacheControl = "no-store";
        return new JsonResult(report)
        {
            StatusCode = report.IsHealthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable,
        };
    }
}
