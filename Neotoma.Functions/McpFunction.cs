using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.Mcp;
using Neotoma.Core.Storage;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>/mcp: the bearer token decides who the tools act for; the MCP SDK does the rest.</summary>
public sealed class McpFunction(BearerAuthenticator bearer, McpEndpoint mcp, McpOptions options, Npgsql.NpgsqlDataSource dataSource)
{
    [Function("Mcp")]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", "post", "delete", "options", Route = "mcp")] HttpRequest req,
        CancellationToken cancellationToken)
    {
        if (Cors.Mcp(req, options, "GET, POST, DELETE") is { } answered)
        {
            return answered;
        }

        BearerResult result;
        try
        {
            result = await bearer.AuthenticateAsync(req, cancellationToken);
        }
        catch (Exception e) when (DatabaseOutage.Known(e) is { } known)
        {
            OAuthResults.RetryAfter(req, known);
            return JsonRpcResults.Error(known.Info.Status, known.Message);
        }

        if (result.Principal is null)
        {
            req.HttpContext.Response.Headers.WWWAuthenticate = result.Challenge;
            return new UnauthorizedResult();
        }

        if (HttpMethods.IsPost(req.Method) && !req.HasJsonContentType())
        {
            // The SDK reads the body as JSON only when it is said to be JSON, and throws otherwise: a 415 here, not a 500 there.
            return JsonRpcResults.Error(StatusCodes.Status415UnsupportedMediaType,
                "A JSON-RPC message is sent with Content-Type: application/json; nothing was done.");
        }

        if (HttpMethods.IsPost(req.Method))
        {
            // A token that allows every tool needs no look at the call; a narrower one has its call
            // read before the SDK runs, so a tool beyond it is answered with the step-up challenge.
            var granted = result.Principal.FindFirstValue(BearerAuthenticator.ScopeClaim) ?? "";
            var peek = !ToolScopes.AllowsEverything(granted);
            if (await BufferBodyAsync(req, cancellationToken) is not { } body)
            {
                return JsonRpcResults.Error(StatusCodes.Status413PayloadTooLarge,
                    $"The request body is larger than {options.MaxBodyBytes} bytes; nothing was done. Send less per call.");
            }

            if (peek && ToolScopes.ShortfallOf(body, granted) is { } shortfall)
            {
                req.HttpContext.Response.Headers.WWWAuthenticate = bearer.InsufficientScope(shortfall);
                return JsonRpcResults.Error(StatusCodes.Status403Forbidden, shortfall.Description + " Authorize again to approve it.");
            }
        }

        req.HttpContext.User = result.Principal;
        // A call is answered by the SDK, which sends 200 before the tool runs: a request the database
        // cannot take now (the pool busy past DATABASE_POOL_WAIT_SECONDS, or the server down) has to
        // be refused here, while the status can still say 503 and when to retry. The connection taken
        // to find out is the one the call's queries then use (RequestConnection), so asking costs no
        // round trip and no second wait.
        RequestConnection? connection = null;
        if (HttpMethods.IsPost(req.Method))
        {
            try
            {
                connection = (await RequestConnection.AcquireAsync(dataSource, cancellationToken)).Attach();
            }
            catch (Exception e) when (DatabaseOutage.Known(e) is { } known)
            {
                OAuthResults.RetryAfter(req, known);
                return JsonRpcResults.Error(known.Info.Status, known.Message);
            }
        }

        await using var lease = connection;
        try
        {
            await mcp.HandleAsync(req.HttpContext);
        }
        catch (JsonException e) when (!req.HttpContext.Response.HasStarted)
        {
            // The SDK reads some parameters (initialize's among them) outside its own error handling:
            // a value of the wrong type is the caller's mistake, answered as JSON-RPC invalid params.
            return JsonRpcResults.Error(StatusCodes.Status400BadRequest,
                $"Invalid params: the value at {e.Path ?? "$"} has the wrong type.", JsonRpcResults.InvalidParams);
        }

        return new EmptyResult();
    }

    /// <summary>
    /// Refuses a body over the limit before any tool runs, so an oversized call writes nothing
    /// (null). A declared Content-Length is enforced by the server itself; only a chunked body of
    /// unknown length, or one to be peeked at, has to be read ahead. Empty when not read.
    /// </summary>
    private async Task<ReadOnlyMemory<byte>?> BufferBodyAsync(HttpRequest req, CancellationToken cancellationToken)
    {
        if (req.ContentLength > options.MaxBodyBytes)
        {
            return null;
        }

        // Read whole before a pooled connection is taken for the call (even when the scope needs no look at
        // it): a body sent slowly must hold nothing but its own socket, or a handful of slow senders would hold
        // every connection of the pool and turn every other request into a 503.
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await req.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > options.MaxBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        buffer.Position = 0;
        req.Body = buffer;
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }
}
