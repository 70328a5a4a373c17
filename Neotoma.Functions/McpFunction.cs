using System.Buffers;
using System.IO.Pipelines;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
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

        var usesDatabase = false;
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

            usesDatabase = ToolDatabase.MayBeNeededBy(body.Span);
        }

        req.HttpContext.User = result.Principal;
        // A call is answered by the SDK, which sends 200 before the tool runs: a request the database
        // cannot take now (the pool busy past DATABASE_POOL_WAIT_SECONDS, or the server down) has to
        // be refused here, while the status can still say 503 and when to retry. The connection taken
        // to find out is the one the call's queries then use (RequestConnection), so asking costs no
        // round trip and no second wait. A request that cannot use the database (tools/list, the
        // identity tool) takes none: with its token in the cache, it is answered even while the pool is busy.
        RequestConnection? connection = null;
        if (usesDatabase)
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

    private const int SmallBody = 16 * 1024;

    /// <summary>
    /// The request's body, read whole and put back for the SDK; null for a body over the limit
    /// (declared or, when chunked, counted as it comes), so an oversized call writes nothing.
    /// </summary>
    private async Task<ReadOnlyMemory<byte>?> BufferBodyAsync(HttpRequest req, CancellationToken cancellationToken)
    {
        if (req.ContentLength > options.MaxBodyBytes)
        {
            return null;
        }

        // Read whole before a pooled connection is taken for the call (even when the scope needs no look at
        // it): a body sent slowly must hold nothing but its own socket, or a handful of slow senders would hold
        // every connection of the pool and turn every other request into a 503. A small declared length (the
        // usual call: a few hundred bytes) is read into one array of that size; a larger or chunked body grows
        // a stream as its bytes arrive, so a sender holds no more memory than it has sent.
        byte[] bytes;
        int length;
        if (req.ContentLength is { } declared && declared <= SmallBody)
        {
            bytes = new byte[declared];
            length = 0;
            int read;
            while (length < bytes.Length && (read = await req.Body.ReadAsync(bytes.AsMemory(length), cancellationToken)) > 0)
            {
                length += read;
            }
        }
        else
        {
            var buffer = new MemoryStream();
            var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(SmallBody);
            try
            {
                int read;
                while ((read = await req.Body.ReadAsync(chunk, cancellationToken)) > 0)
                {
                    if (buffer.Length + read > options.MaxBodyBytes)
                    {
                        return null;
                    }

                    buffer.Write(chunk, 0, read);
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
            }

            bytes = buffer.GetBuffer();
            length = (int)buffer.Length;
        }

        // The SDK reads the message through the body's PipeReader: one over the bytes already here, not the
        // adapter ASP.NET Core would otherwise put around the new stream (a pooled buffer and a copy per call).
        req.Body = new MemoryStream(bytes, 0, length, writable: false, publiclyVisible: true);
        req.HttpContext.Features.Set<IRequestBodyPipeFeature>(new BufferedBody(PipeReader.Create(new ReadOnlySequence<byte>(bytes, 0, length))));
        return bytes.AsMemory(0, length);
    }

    private sealed class BufferedBody(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader => reader;
    }
}
