using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Neotoma.Pages;

namespace Neotoma.Functions.Http;

/// <summary>
/// A static file of the pages (the stylesheet, the copy script). Asked for at its hashed address
/// (<see cref="StaticAsset.Href"/>) it is kept for a year; at any other it is revalidated by ETag.
/// </summary>
internal sealed class AssetResult(StaticAsset asset) : IActionResult
{
    public async Task ExecuteResultAsync(ActionContext context)
    {
        var request = context.HttpContext.Request;
        var response = context.HttpContext.Response;
        response.Headers.CacheControl = request.Query["v"] == asset.Version ? "public, max-age=31536000, immutable" : "public, no-cache";
        response.Headers.ETag = asset.ETag;
        response.Headers.XContentTypeOptions = "nosniff";
        if (request.Headers.IfNoneMatch.Contains(asset.ETag))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = asset.ContentType;
        response.ContentLength = asset.Content.Length;
        await response.Body.WriteAsync(asset.Content, context.HttpContext.RequestAborted);
    }
}
