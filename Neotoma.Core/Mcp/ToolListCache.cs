using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using ModelContextProtocol.Server;

namespace Neotoma.Core.Mcp;

/// <summary>
/// Answers a plain <c>tools/list</c> with the answer the MCP SDK gave the first time. The SDK
/// builds every response as a JSON DOM, so each tools/list re-walks all fourteen tool schemas
/// (9 KB) and costs about twice a one-tool server's request; the list cannot change while the
/// process runs, so the SDK is asked once per (Accept, MCP-Protocol-Version, Mcp-Method) and
/// its answer is replayed with the caller's request id.
/// <para>
/// Only a request the SDK would answer from the tool list alone is replayed: one JSON-RPC
/// request, <c>method</c> "tools/list", no params or empty params (so no cursor and no
/// 2026-07-28 <c>_meta</c>), an integer or string id, no Mcp-Session-Id. Anything else, and
/// every first request per key, goes to the SDK untouched. The cache is off when any tool carries authorization
/// metadata, since then the list would differ per user.
/// </para>
/// </summary>
public sealed class ToolListCache
{
    /// <summary>A tools/list request is well under this; a longer body is never a plain one.</summary>
    public const int MaxRequestBytes = 1024;

    private const int MaxResponseBytes = 256 * 1024;
    private const int MaxKeys = 32;
    private static readonly byte[] SseMessagePrefix = "event: message\ndata: "u8.ToArray();
    private static readonly byte[] SseMessageSuffix = "\n\n"u8.ToArray();

    /// <summary>
    /// The headers the SDK sets on a Streamable HTTP answer. Only these are replayed: anything
    /// else on the first response (a session id, a per-request header) belongs to that request.
    /// </summary>
    private static readonly string[] ReplayedHeaders = ["Content-Type", "Cache-Control", "Content-Encoding", "X-Accel-Buffering"];

    private readonly ConcurrentDictionary<(string Accept, string ProtocolVersion, string Method), CachedList> entries = new();
    private readonly bool enabled;

    public ToolListCache(IEnumerable<McpServerTool> tools)
    {
        enabled = !tools.Any(tool => tool.Metadata.Any(metadata => metadata is IAuthorizeData));
    }

    /// <summary>Number of answers held; for tests and diagnostics.</summary>
    public int Count => entries.Count;

    /// <summary>Serves a POST to /mcp: from the cache when the request is a plain tools/list already answered, else through <paramref name="sdk"/>.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate sdk)
    {
        var request = context.Request;
        if (!enabled || request.ContentLength is not (> 0 and <= MaxRequestBytes))
        {
            await sdk(context);
            return;
        }

        var body = new byte[(int)request.ContentLength.Value];
        var length = await request.Body.ReadAtLeastAsync(body, body.Length, throwOnEndOfStream: false, context.RequestAborted);
        request.Body = new MemoryStream(body, 0, length, writable: false);
        if (length != body.Length || !PlainToolsListRequest.TryParse(body, out var id))
        {
            await sdk(context);
            return;
        }

        // A session id is refused by a stateless SDK, so that request goes to it; the key holds every
        // other request header the SDK checks for a tools/list.
        if (request.Headers.ContainsKey("Mcp-Session-Id"))
        {
            await sdk(context);
            return;
        }

        var key = (request.Headers.Accept.ToString(), request.Headers["MCP-Protocol-Version"].ToString(), request.Headers["Mcp-Method"].ToString());

        if (entries.TryGetValue(key, out var cached))
        {
            await cached.WriteAsync(context.Response, id, context.RequestAborted);
            return;
        }

        var captured = await InvokeCapturingAsync(context, sdk);
        if (entries.Count < MaxKeys && CachedList.TryLearn(context.Response, captured, id) is { } learned)
        {
            entries.TryAdd(key, learned);
        }
    }

    private static async Task<byte[]?> InvokeCapturingAsync(HttpContext context, RequestDelegate sdk)
    {
        var original = context.Response.Body;
        var tee = new TeeStream(original, MaxResponseBytes);
        context.Response.Body = tee;
        try
        {
            await sdk(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        return tee.Captured;
    }

    /// <summary>
    /// One answer of the SDK: its headers, and its body cut around the request id, so a replay
    /// writes the two cached halves with the caller's id between them and builds nothing.
    /// </summary>
    private sealed class CachedList
    {
        private readonly KeyValuePair<string, StringValues>[] headers;
        private readonly byte[] beforeId;
        private readonly byte[] afterId;

        private CachedList(KeyValuePair<string, StringValues>[] headers, byte[] beforeId, byte[] afterId)
        {
            this.headers = headers;
            this.beforeId = beforeId;
            this.afterId = afterId;
        }

        /// <summary>Keeps the SDK's answer only if it is exactly one successful JSON-RPC response to this request.</summary>
        public static CachedList? TryLearn(HttpResponse response, byte[]? body, RequestId id)
        {
            if (body is null || response.StatusCode != StatusCodes.Status200OK || response.ContentType is not { } contentType)
            {
                return null;
            }

            var eventStream = contentType.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase);
            ReadOnlySpan<byte> json = body;
            if (eventStream)
            {
                if (!json.StartsWith(SseMessagePrefix) || !json.EndsWith(SseMessageSuffix))
                {
                    return null;
                }

                json = json[SseMessagePrefix.Length..^SseMessageSuffix.Length];
                if (json.IndexOf((byte)'\n') >= 0)
                {
                    return null;
                }
            }
            else if (!contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            try
            {
                using var document = JsonDocument.Parse(json.ToArray());
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object
                    || root.EnumerateObject().Count() != 3
                    || !root.TryGetProperty("jsonrpc", out var version) || version.ValueKind != JsonValueKind.String || version.GetString() != "2.0"
                    || !root.TryGetProperty("id", out var echoed) || !id.Matches(echoed)
                    || !root.TryGetProperty("result", out var result) || result.ValueKind != JsonValueKind.Object)
                {
                    return null;
                }

                if (FindIdValue(json) is not { } idValue)
                {
                    return null;
                }

                var jsonStart = eventStream ? SseMessagePrefix.Length : 0;
                var beforeId = body.AsSpan(0, jsonStart + idValue.Start).ToArray();
                var afterId = body.AsSpan(jsonStart + idValue.End).ToArray();
                var replayed = ReplayedHeaders.Where(response.Headers.ContainsKey)
                    .Select(name => KeyValuePair.Create(name, response.Headers[name])).ToArray();
                return new CachedList(replayed, beforeId, afterId);
            }
            catch (JsonException)
            {
                return null;
            }
        }

        /// <summary>Where the top-level "id" value sits in the response, so the SDK's own bytes around it are kept as they are.</summary>
        private static (int Start, int End)? FindIdValue(ReadOnlySpan<byte> json)
        {
            var reader = new Utf8JsonReader(json);
            while (reader.Read())
            {
                if (reader.CurrentDepth == 1 && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    return ((int)reader.TokenStartIndex, (int)reader.BytesConsumed);
                }

                if ((reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) && reader.CurrentDepth >= 1)
                {
                    reader.Skip();
                }
            }

            return null;
        }

        public async Task WriteAsync(HttpResponse response, RequestId id, CancellationToken cancellationToken)
        {
            response.StatusCode = StatusCodes.Status200OK;
            foreach (var (name, value) in headers)
            {
                response.Headers[name] = value;
            }

            var idJson = id.ToJson();
            response.ContentLength = beforeId.Length + idJson.Length + afterId.Length;
            var body = response.BodyWriter;
            body.Write(beforeId);
            body.Write(idJson);
            body.Write(afterId);
            await body.FlushAsync(cancellationToken);
        }
    }

    /// <summary>A JSON-RPC id as the request gave it: an integer or a string.</summary>
    internal readonly record struct RequestId(long? Number, string? Text)
    {
        public bool Matches(JsonElement element) => Number is { } number
            ? element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out var value) && value == number
            : element.ValueKind == JsonValueKind.String && element.GetString() == Text;

        public byte[] ToJson()
        {
            var buffer = new ArrayBufferWriter<byte>(32);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                if (Number is { } number)
                {
                    writer.WriteNumberValue(number);
                }
                else
                {
                    writer.WriteStringValue(Text);
                }
            }

            return buffer.WrittenSpan.ToArray();
        }
    }

    /// <summary>
    /// Recognises <c>{"jsonrpc":"2.0","id":…,"method":"tools/list"}</c> (members in any order,
    /// optionally <c>"params":{}</c>) and nothing else: a repeated or unknown member, a batch,
    /// a cursor or any <c>_meta</c> sends the request to the SDK.
    /// </summary>
    internal static class PlainToolsListRequest
    {
        public static bool TryParse(ReadOnlySpan<byte> body, out RequestId id)
        {
            id = default;
            try
            {
                return TryRead(body, out id);
            }
            catch (JsonException)
            {
                return false;
            }
        }

        private static bool TryRead(ReadOnlySpan<byte> body, out RequestId id)
        {
            id = default;
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            bool sawVersion = false, sawMethod = false, sawId = false, sawParams = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("jsonrpc"u8) && !sawVersion)
                {
                    sawVersion = reader.Read() && reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("2.0"u8);
                    if (!sawVersion)
                    {
                        return false;
                    }
                }
                else if (reader.ValueTextEquals("method"u8) && !sawMethod)
                {
                    sawMethod = reader.Read() && reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("tools/list"u8);
                    if (!sawMethod)
                    {
                        return false;
                    }
                }
                else if (reader.ValueTextEquals("id"u8) && !sawId)
                {
                    if (!reader.Read())
                    {
                        return false;
                    }

                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var number))
                    {
                        id = new RequestId(number, null);
                    }
                    else if (reader.TokenType == JsonTokenType.String)
                    {
                        id = new RequestId(null, reader.GetString());
                    }
                    else
                    {
                        return false;
                    }

                    sawId = true;
                }
                else if (reader.ValueTextEquals("params"u8) && !sawParams)
                {
                    sawParams = reader.Read() && reader.TokenType == JsonTokenType.StartObject
                        && reader.Read() && reader.TokenType == JsonTokenType.EndObject;
                    if (!sawParams)
                    {
                        return false;
                    }
                }
                else
                {
                    return false;
                }
            }

            return reader.TokenType == JsonTokenType.EndObject && !reader.Read() && sawVersion && sawMethod && sawId;
        }
    }

    /// <summary>Writes through to the response and keeps a copy of up to <c>limit</c> bytes; a longer answer is not kept.</summary>
    private sealed class TeeStream(Stream inner, int limit) : Stream
    {
        private MemoryStream? copy = new();

        public byte[]? Captured => copy?.ToArray();

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Keep(buffer.AsSpan(offset, count));
            inner.Write(buffer, offset, count);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Keep(buffer.Span);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        private void Keep(ReadOnlySpan<byte> bytes)
        {
            if (copy is null)
            {
                return;
            }

            if (copy.Length + bytes.Length > limit)
            {
                copy = null;
                return;
            }

            copy.Write(bytes);
        }
    }
}
