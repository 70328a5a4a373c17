using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Mcp;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Truth;

/// <summary>
/// tools/list answered from the SDK's own first answer: the replay must be indistinguishable
/// from the SDK, and nothing but a plain tools/list may ever be answered from it.
/// </summary>
public sealed class ToolListCacheTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private const string AllTools = "\"name\":\"retrieve_related_entities\"";

    private ToolListCache Cache => fixture.Server.Services.GetRequiredService<ToolListCache>();

    /// <summary>Each test gets an Accept header of its own, so its first tools/list is the SDK's and the second the cache's.</summary>
    private static string UniqueAccept() => $"application/json, text/event-stream, application/x-test-{Guid.NewGuid():N};q=0.1";

    private async Task<HttpResponseMessage> PostAsync(
        string? token, string body, string accept, string? protocolVersion = "2025-06-18", string? sessionId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (token is not null)
        {
            request.Headers.Authorization = new("Bearer", token);
        }

        request.Headers.TryAddWithoutValidation("Accept", accept);
        if (protocolVersion is not null)
        {
            request.Headers.Add("MCP-Protocol-Version", protocolVersion);
        }

        if (sessionId is not null)
        {
            request.Headers.Add("Mcp-Session-Id", sessionId);
        }

        return await fixture.Server.Client.SendAsync(request);
    }

    /// <summary>Every header but those that describe the transfer rather than the answer.</summary>
    private static string[] HeadersOf(HttpResponseMessage response) =>
        response.Headers.Concat(response.Content.Headers)
            .Where(header => header.Key is not ("Date" or "Transfer-Encoding" or "Content-Length"))
            .Select(header => $"{header.Key}: {string.Join(",", header.Value)}")
            .Order(StringComparer.Ordinal)
            .ToArray();

    private static string ToolsList(string id) => "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/list\"}";

    private static JsonNode DataOf(string sse)
    {
        Assert.StartsWith("event: message\ndata: ", sse);
        return JsonNode.Parse(sse["event: message\ndata: ".Length..].TrimEnd('\n'))!;
    }

    [Theory]
    [InlineData("2025-06-18")]
    [InlineData("2025-11-25")]
    [InlineData(null)]
    public async Task ReplayedToolsList_IsByteForByteTheSdksAnswer(string? protocolVersion)
    {
        var (tokens, _) = await fixture.SignInAsync("tlc-bytes");
        var accept = UniqueAccept();
        var learnedBefore = Cache.Count;

        var fromSdk = await PostAsync(tokens.AccessToken, ToolsList("41"), accept, protocolVersion);
        var sdkBody = await fromSdk.Content.ReadAsByteArrayAsync();
        var replayed = await PostAsync(tokens.AccessToken, ToolsList("41"), accept, protocolVersion);
        var replayedBody = await replayed.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, fromSdk.StatusCode);
        Assert.Equal(learnedBefore + 1, Cache.Count);
        Assert.True(fromSdk.Headers.TransferEncodingChunked, "the first answer is streamed by the SDK");
        Assert.NotEqual(true, replayed.Headers.TransferEncodingChunked);
        Assert.Equal(Encoding.UTF8.GetString(sdkBody), Encoding.UTF8.GetString(replayedBody));
        Assert.Contains(AllTools, Encoding.UTF8.GetString(replayedBody));
        Assert.Equal(HeadersOf(fromSdk), HeadersOf(replayed));
    }

    [Theory]
    [InlineData("7")]
    [InlineData("-9007199254740993")]
    [InlineData("\"req-1\"")]
    [InlineData("\"quote \\\" and \\u00e9 and <tag>\"")]
    public async Task ReplayedToolsList_EchoesTheCallersId(string id)
    {
        var (tokens, _) = await fixture.SignInAsync("tlc-id");
        var accept = UniqueAccept();
        var fromSdk = DataOf(await (await PostAsync(tokens.AccessToken, ToolsList("1"), accept)).Content.ReadAsStringAsync());

        var replayed = DataOf(await (await PostAsync(tokens.AccessToken, ToolsList(id), accept)).Content.ReadAsStringAsync());

        Assert.Equal(JsonNode.Parse(id)!.ToJsonString(), replayed["id"]!.ToJsonString());
        Assert.True(JsonNode.DeepEquals(fromSdk["result"], replayed["result"]));
        Assert.Equal("2.0", (string?)replayed["jsonrpc"]);
    }

    /// <summary>Each of these differs from a plain tools/list in a way the SDK answers differently; the cache must not answer it.</summary>
    [Theory]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"cursor\":\"next\"}}")]
    [InlineData("[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}]")]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"method\":\"tools/call\"}")]
    [InlineData("{\"jsonrpc\":\"2.0\",\"method\":\"tools/list\"}")]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"tools/list\"}")]
    [InlineData("{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"tools/list\"}")]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"")]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"prompts/list\"}")]
    public async Task RequestsThatAreNotAPlainToolsList_AreAnsweredByTheSdk(string body)
    {
        var (tokens, _) = await fixture.SignInAsync("tlc-other");
        var accept = UniqueAccept();
        var warmed = await PostAsync(tokens.AccessToken, ToolsList("1"), accept);
        await PostAsync(tokens.AccessToken, ToolsList("1"), accept);

        var response = await PostAsync(tokens.AccessToken, body, accept);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, warmed.StatusCode);
        Assert.DoesNotContain(AllTools, text);
    }

    [Fact]
    public async Task CachedToolsList_StillNeedsAValidToken()
    {
        var (tokens, _) = await fixture.SignInAsync("tlc-auth");
        var accept = UniqueAccept();
        await PostAsync(tokens.AccessToken, ToolsList("1"), accept);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(tokens.AccessToken, ToolsList("1"), accept)).StatusCode);

        var anonymous = await PostAsync(null, ToolsList("1"), accept);
        var forged = await PostAsync("not-a-token-" + Guid.NewGuid(), ToolsList("1"), accept);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        Assert.DoesNotContain(AllTools, await anonymous.Content.ReadAsStringAsync() + await forged.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ProtocolChecksOfTheSdk_StillApply_AfterTheListIsCached()
    {
        var (tokens, _) = await fixture.SignInAsync("tlc-checks");
        await PostAsync(tokens.AccessToken, ToolsList("1"), "application/json, text/event-stream");
        await PostAsync(tokens.AccessToken, ToolsList("1"), "application/json, text/event-stream");

        var withoutEventStream = await PostAsync(tokens.AccessToken, ToolsList("1"), "application/json");
        var unknownRevision = await PostAsync(tokens.AccessToken, ToolsList("1"), "application/json, text/event-stream", "1999-01-01");

        Assert.Equal(HttpStatusCode.NotAcceptable, withoutEventStream.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknownRevision.StatusCode);
    }

    [Fact]
    public async Task SessionIdOnAStatelessServer_IsRefusedByTheSdk_EvenWhenTheListIsCached()
    {
        var (tokens, _) = await fixture.SignInAsync("tlc-session");
        var accept = UniqueAccept();
        await PostAsync(tokens.AccessToken, ToolsList("1"), accept);
        await PostAsync(tokens.AccessToken, ToolsList("1"), accept);

        var response = await PostAsync(tokens.AccessToken, ToolsList("1"), accept, sessionId: "made-up");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain(AllTools, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", true)]
    [InlineData("{\"method\":\"tools/list\",\"id\":\"a\",\"jsonrpc\":\"2.0\"}", true)]
    [InlineData("  {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{}}\n", true)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{}}}", false)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":null}", false)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"tools/list\"}", false)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/list\"}", false)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"tools/list\"}", false)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"extra\":true}", false)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"} {}", false)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/lis\\u0074\"}", true)]
    [InlineData("", false)]
    [InlineData("\u00ff\u00fe", false)]
    public void PlainToolsListRequest_IsRecognisedExactly(string body, bool plain)
    {
        Assert.Equal(plain, ToolListCache.PlainToolsListRequest.TryParse(Encoding.UTF8.GetBytes(body), out _));
    }
}
