using System.Net;
using System.Text;
using Neotoma.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neotoma.Tests.Security;

/// <summary>
/// Hostile requests generated over every endpoint and parameter: malformed and invalid encodings
/// (lone surrogates, invalid UTF-8, overlong forms, NUL, CR/LF), oversized, wrong types, duplicate
/// members, injection strings, and tool arguments of the wrong type. Whatever arrives: no 5xx, no
/// stack trace, and nothing stored except what a valid request of the caller's would store.
/// </summary>
public sealed class FuzzTests(OAuthFixture fixture, ITestOutputHelper output) : IClassFixture<OAuthFixture>
{
    /// <summary>Text values, as they would appear inside a JSON string (escapes included) or a form field.</summary>
    private static readonly string[] HostileJsonStrings =
    [
        @"\ud800", @"\udfff\ud800", @"a\u0000b", @"line\r\nInjected: header", "' OR 1=1 --", "<script>alert(1)</script>",
        "../../etc/passwd", "\u202Egnp.exe", new string('x', 70_000), "", " ", "%00%ff", "\\\\", "{{7*7}}",
    ];

    /// <summary>Raw bytes for places where text is percent-encoded or sent as is: invalid and overlong UTF-8, NUL, CR/LF, a lone surrogate in UTF-8.</summary>
    private static readonly string[] HostileEncoded =
    [
        "%FF", "%C3%28", "%C0%AF", "%ED%A0%80", "%00", "%0D%0AX-Injected:%201", "%25", new string('A', 9000), "%E2%80%AE", "'%20OR%201=1",
    ];

    private static readonly (string Method, string Path, string[] Parameters)[] FormEndpoints =
    [
        ("GET", "/api/mcp/oauth/authorize", ["client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "state", "scope", "resource"]),
        ("GET", "/api/mcp/oauth/callback", ["code", "state", "error"]),
        ("POST", "/api/mcp/oauth/token", ["grant_type", "code", "client_id", "redirect_uri", "code_verifier", "refresh_token", "resource"]),
        ("POST", "/api/mcp/oauth/revoke", ["token", "client_id"]),
        ("POST", "/api/mcp/oauth/initiate", ["client_id", "redirect_uri", "code_challenge", "state", "csrf_token", "decision"]),
    ];

    [Fact]
    public async Task HostileRequests_OverEveryEndpointAndParameter_NeverA5xx_NeverAStackTrace_NeverAStrayWrite()
    {
        var (tokens, _) = await fixture.SignInAsync("fuzz-user");
        await CallToolAsync(tokens.AccessToken, """{"name":"store","arguments":{"entities":[{"entity_type":"person","name":"Fuzz Target","fields":{"role":"test"}}]}}""");
        var entity = await fixture.Database.AdminScalarAsync<string>("SELECT id FROM entities WHERE user_id = 'fuzz-user' LIMIT 1");
        var before = await SnapshotAsync();

        var requests = Generate(tokens.AccessToken, entity!).ToList();
        var failures = new List<string>();
        var accepted = new Dictionary<string, int>();
        // Sends header values as raw Latin-1 bytes instead of refusing them, as a hostile client would.
        using var http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false, UseCookies = false, RequestHeaderEncodingSelector = (_, _) => Encoding.Latin1,
        }) { BaseAddress = fixture.BaseAddress };
        foreach (var (what, request) in requests)
        {
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            if ((int)response.StatusCode >= 500 || body.Contains("   at ", StringComparison.Ordinal) || body.Contains("Exception", StringComparison.Ordinal))
            {
                failures.Add($"{(int)response.StatusCode} for {what}: {body[..Math.Min(body.Length, 300)]}");
            }

            if (response.IsSuccessStatusCode)
            {
                accepted[request.RequestUri!.AbsolutePath] = accepted.GetValueOrDefault(request.RequestUri.AbsolutePath) + 1;
            }
        }

        output.WriteLine($"{requests.Count} hostile requests, {failures.Count} failures; accepted: {string.Join(", ", accepted.Select(a => $"{a.Key} {a.Value}"))}");
        Assert.True(requests.Count >= 300, $"only {requests.Count} requests were generated");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        var after = await SnapshotAsync();
        Assert.Equal(before.Protected, after.Protected);
        // A hostile but valid client name registers a client, and a JSON initiate with one starts a sign-in: nothing else may appear.
        Assert.Equal(before.Clients + accepted.GetValueOrDefault("/api/mcp/oauth/register"), after.Clients);
        Assert.True(after.States - before.States <= accepted.GetValueOrDefault("/api/mcp/oauth/initiate"));
    }

    private IEnumerable<(string What, HttpRequestMessage Request)> Generate(string accessToken, string entityId)
    {
        // Every parameter of the form and query endpoints, with every encoded hostile value, then each parameter twice.
        foreach (var (method, path, parameters) in FormEndpoints)
        {
            foreach (var parameter in parameters)
            {
                foreach (var value in HostileEncoded)
                {
                    var encoded = $"{parameter}={value}&client_id=x&grant_type=authorization_code&code=c&code_verifier=v";
                    yield return ($"{method} {path} {parameter}={value[..Math.Min(value.Length, 20)]}", method == "GET"
                        ? new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.BaseAddress, path + "?" + encoded))
                        : new HttpRequestMessage(HttpMethod.Post, path) { Content = Raw(Encoding.ASCII.GetBytes(encoded), "application/x-www-form-urlencoded") });
                }
            }
        }

        // Registration: every member with every hostile string, wrong types, duplicates, depth.
        foreach (var value in HostileJsonStrings)
        {
            foreach (var member in new[] { "client_name", "redirect_uris", "grant_types", "client_uri", "token_endpoint_auth_method" })
            {
                var json = member is "redirect_uris" or "grant_types"
                    ? $$"""{"client_name":"f","redirect_uris":["https://ok.example/cb"],"{{member}}":["{{value}}"]}"""
                    : $$"""{"redirect_uris":["https://ok.example/cb"],"{{member}}":"{{value}}"}""";
                yield return ($"register {member}={value[..Math.Min(value.Length, 20)]}", Json("/api/mcp/oauth/register", json));
            }

            yield return ($"initiate json {value[..Math.Min(value.Length, 20)]}",
                Json("/api/mcp/oauth/initiate", $$"""{"client_name":"{{value}}","connection_id":"{{value}}","redirect_uri":"{{value}}"}"""));
        }

        foreach (var json in new[]
        {
            """{"redirect_uris":["https://ok.example/cb"],"redirect_uris":["http://evil.example/cb"]}""",
            """{"redirect_uris":"https://ok.example/cb"}""", """{"redirect_uris":[1,2]}""", """{"redirect_uris":[{"a":1}]}""",
            """{"redirect_uris":["https://ok.example/cb"],"client_name":123}""", """{"redirect_uris":["https://ok.example/cb"],"grant_types":"code"}""",
            new string('[', 5000) + new string(']', 5000), "null", "true", "1e999999", "{\"a\":\"\\uZZZZ\"}",
        })
        {
            yield return ($"register {json[..Math.Min(json.Length, 30)]}", Json("/api/mcp/oauth/register", json));
            yield return ($"initiate {json[..Math.Min(json.Length, 30)]}", Json("/api/mcp/oauth/initiate", json));
        }

        foreach (var bytes in new byte[][] { [0xFF, 0xFE], [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], [0xC0, 0xAF], [0xED, 0xA0, 0x80] })
        {
            yield return ("register raw bytes", new HttpRequestMessage(HttpMethod.Post, "/api/mcp/oauth/register") { Content = Raw(bytes, "application/json") });
            yield return ("initiate raw bytes", new HttpRequestMessage(HttpMethod.Post, "/api/mcp/oauth/initiate") { Content = Raw(bytes, "application/json") });
            yield return ("mcp raw bytes", Mcp(accessToken, bytes));
        }

        // /mcp: JSON-RPC envelopes the SDK must refuse cleanly.
        foreach (var envelope in new[]
        {
            """{"jsonrpc":"2.0","id":"\ud800","method":"tools/list"}""", """{"jsonrpc":"2.0","id":"\udfff","method":"ping"}""",
            """{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}""", """{"jsonrpc":"2.0","id":1.5e308,"method":"tools/list"}""",
            """{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}""", """{"jsonrpc":"2.0","id":1,"method":5}""",
            """{"jsonrpc":"1.0","id":1,"method":"tools/list"}""", """{"id":1,"method":"tools/list"}""", """{"jsonrpc":"2.0","id":1,"method":"tools/list","params":"x"}""",
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":1}}}""",
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":7,"capabilities":[],"clientInfo":"x"}}""",
            """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\ud800","arguments":{}}}""",
            """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"store","arguments":"x"}}""",
            """[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]""", "[]", "{}", "", "null",
            new string('{', 3000), """{"jsonrpc":"2.0","id":1,"method":"nope/nope"}""", """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
        })
        {
            yield return ($"mcp {envelope[..Math.Min(envelope.Length, 40)]}", Mcp(accessToken, Encoding.UTF8.GetBytes(envelope)));
        }

        // Tool arguments of the wrong type, for every tool and parameter.
        var wrong = new[] { "\"text\"", "-1", "1.5", "true", "[]", "{}", "null", "\"\\ud800\"", "99999999999999999999" };
        var tools = new (string Tool, string[] Parameters)[]
        {
            ("store", ["entities", "relationships", "idempotency_key"]),
            ("retrieve_entities", ["entity_type", "search", "limit", "offset", "include_deleted"]),
            ("retrieve_entity_snapshot", ["entity_id"]), ("retrieve_entity_by_identifier", ["identifier", "entity_type"]),
            ("list_observations", ["entity_id", "limit", "offset"]), ("correct", ["entity_id", "field", "value"]),
            ("merge_entities", ["source_entity_id", "target_entity_id"]), ("delete_entity", ["entity_id"]), ("restore_entity", ["entity_id"]),
            ("list_relationships", ["entity_id", "type", "limit", "offset"]), ("get_authenticated_user", ["x"]),
        };
        foreach (var (tool, parameters) in tools)
        {
            foreach (var parameter in parameters)
            {
                foreach (var value in wrong)
                {
                    var arguments = parameter is "value" or "field"
                        ? $$"""{"entity_id":"{{entityId}}","field":{{(parameter == "field" ? value : "\"role\"")}},"value":{{(parameter == "value" ? value : "1")}}}"""
                        : $$"""{"{{parameter}}":{{value}}}""";
                    if ((tool == "correct" && parameter == "value" && value != "\"\\ud800\"") || (tool == "correct" && parameter == "field" && value == "\"text\""))
                    {
                        continue; // any JSON value is a valid correction, of any field named by a string
                    }

                    yield return ($"tool {tool}.{parameter}={value}", Mcp(accessToken, Encoding.UTF8.GetBytes(
                        $$$"""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"{{{tool}}}","arguments":{{{arguments}}}}}""")));
                }
            }
        }

        // Headers.
        foreach (var authorization in new[] { "Bearer", "Bearer \u00ff\u00fe", "Basic Zm9vOmJhcg==", "Bearer " + new string('a', 5000), "Bearer a b c", "bearer " + accessToken + "x" })
        {
            var request = Mcp(null, Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}"""));
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
            yield return ($"mcp Authorization {authorization[..Math.Min(authorization.Length, 20)]}", request);
        }

        foreach (var version in new[] { "1999-01-01", "\u00ff", "", new string('9', 500) })
        {
            var request = Mcp(accessToken, Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}"""));
            request.Headers.TryAddWithoutValidation("MCP-Protocol-Version", version);
            yield return ($"mcp MCP-Protocol-Version {version[..Math.Min(version.Length, 20)]}", request);
        }
    }

    private HttpRequestMessage Mcp(string? accessToken, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = Raw(body, "application/json") };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (accessToken is not null)
        {
            request.Headers.Authorization = new("Bearer", accessToken);
        }

        return request;
    }

    private static HttpRequestMessage Json(string path, string json) =>
        new(HttpMethod.Post, path) { Content = Raw(Encoding.UTF8.GetBytes(json), "application/json") };

    private static ByteArrayContent Raw(byte[] bytes, string contentType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new(contentType);
        return content;
    }

    private async Task CallToolAsync(string accessToken, string callParams)
    {
        var response = await fixture.Server.Client.SendAsync(Mcp(accessToken, Encoding.UTF8.GetBytes(
            $$$"""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{{callParams}}}}""")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private sealed record Snapshot(string Protected, long Clients, long States);

    /// <summary>A digest of every row a hostile request must not change, and the counts of the two tables a valid one may grow.</summary>
    private async Task<Snapshot> SnapshotAsync() => new(
        (await fixture.Database.AdminScalarAsync<string>("""
            SELECT concat_ws('|',
                (SELECT md5(coalesce(string_agg(concat_ws(',', connection_id, user_id, client_id, revoked_at, refresh_token), ';' ORDER BY connection_id), '')) FROM mcp_oauth_connections),
                (SELECT md5(coalesce(string_agg(concat_ws(',', code_hash, used_at), ';' ORDER BY code_hash), '')) FROM mcp_oauth_codes),
                (SELECT md5(coalesce(string_agg(concat_ws(',', token_hash, used_at, revoked_at, expires_at), ';' ORDER BY token_hash), '')) FROM mcp_oauth_tokens),
                (SELECT md5(coalesce(string_agg(e::text, ';' ORDER BY e.id), '')) FROM entities e),
                (SELECT md5(coalesce(string_agg(o::text, ';' ORDER BY o.id), '')) FROM observations o),
                (SELECT md5(coalesce(string_agg(r::text, ';' ORDER BY r.id), '')) FROM relationships r),
                (SELECT count(*) FROM mcp_oauth_upstream_clients))
            """))!,
        (await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_clients")),
        (await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state")));
}
