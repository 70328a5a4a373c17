using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Neotoma.Core.Mcp;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// Scopes and step-up (MCP authorization 2025-11-25, "Scope Challenge Handling"; RFC 6750 §3.1;
/// RFC 6749 §6): neotoma:read and neotoma:write, the person's read-only choice at consent, the 403
/// challenge before a tool runs, re-authorization for more, and refresh that never widens.
/// </summary>
public sealed class ScopeTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private const string StoreCall = """
        {"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"store","arguments":{"entities":[{"entity_type":"company","name":"Scope Co"}]}}}
        """;

    private const string WhoAmICall = """{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"get_authenticated_user","arguments":{}}}""";

    [Fact]
    public async Task ReadOnlyConsent_ReadsListsEveryTool_AndAWriteGets403WithTheStepUpChallenge_WritingNothing()
    {
        var (tokens, _) = await fixture.SignInAsync("scope-reader", readOnly: true);
        Assert.Equal("neotoma:read", tokens.Scope);

        await using var client = await fixture.ConnectWithTokenAsync(tokens.AccessToken);
        var tools = await client.ListToolsAsync();
        Assert.Equal(ToolScopes.All.Keys.Order(), tools.Select(t => t.Name).Order());
        var who = await client.CallToolAsync("get_authenticated_user");
        Assert.NotEqual(true, who.IsError);

        using var refused = await fixture.SendMcpAsync(tokens.AccessToken, StoreCall);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(
            $"Bearer error=\"insufficient_scope\", scope=\"neotoma:read neotoma:write\", resource_metadata=\"{fixture.Issuer}/.well-known/oauth-protected-resource/mcp\", " +
            "error_description=\"The tool 'store' needs neotoma:write; this connection was approved for neotoma:read.\"",
            refused.Headers.WwwAuthenticate.ToString());
        using var body = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Contains("needs neotoma:write", body.RootElement.GetProperty("error").GetProperty("message").GetString());

        // The tool's name read as the SDK reads it (ignoring case, the last one given): a decoy before it changes nothing.
        Assert.Contains("\"name\":\"store\"", StoreCall);
        using var disguised = await fixture.SendMcpAsync(tokens.AccessToken,
            StoreCall.Replace("\"name\":\"store\"", "\"name\":\"get_authenticated_user\",\"Name\":\"store\""));
        Assert.Equal(HttpStatusCode.Forbidden, disguised.StatusCode);
        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM entities WHERE user_id = 'scope-reader'"));
    }

    [Fact]
    public async Task ReadOnlyToken_ReadToolsAnswer200_EvenInABatchWithoutWrites()
    {
        var (tokens, _) = await fixture.SignInAsync("scope-batch", readOnly: true);

        using var read = await fixture.SendMcpAsync(tokens.AccessToken, WhoAmICall);
        using var batch = await fixture.SendMcpAsync(tokens.AccessToken, $"[{WhoAmICall},{StoreCall}]");

        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Contains("scope-batch", await read.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden, batch.StatusCode);
    }

    [Fact]
    public async Task WriteOnlyToken_GetsTheChallengeForReading_WithWhatItHasKept()
    {
        var (tokens, _) = await fixture.SignInAsync("scope-writer", scope: "neotoma:write offline_access");
        Assert.Equal("neotoma:write offline_access", tokens.Scope);

        using var refused = await fixture.SendMcpAsync(tokens.AccessToken, WhoAmICall);
        using var stored = await fixture.SendMcpAsync(tokens.AccessToken, StoreCall);

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("scope=\"neotoma:read neotoma:write offline_access\"", refused.Headers.WwwAuthenticate.ToString());
        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
    }

    [Theory]
    [InlineData(null, "neotoma:read neotoma:write")]
    [InlineData("mcp", "neotoma:read neotoma:write")]
    [InlineData("offline_access", "neotoma:read neotoma:write offline_access")]
    [InlineData("neotoma:read", "neotoma:read")]
    [InlineData("neotoma:write neotoma:read neotoma:read", "neotoma:read neotoma:write")]
    public async Task RequestedScope_IsGrantedInCanonicalForm(string? requested, string granted)
    {
        var (tokens, _) = await fixture.SignInAsync("scope-canonical", scope: requested);

        Assert.Equal(granted, tokens.Scope);
    }

    [Fact]
    public async Task TokensIssuedBeforeTheSplit_WithScopeMcp_KeepReadAndWrite()
    {
        var (tokens, _) = await fixture.SignInAsync("scope-legacy");
        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_tokens SET scope = 'mcp' WHERE user_id = 'scope-legacy'");
        await fixture.RestartServerAsync(); // the access-token cache remembers the scope it saw

        using var stored = await fixture.SendMcpAsync(tokens.AccessToken, StoreCall);

        Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM entities WHERE user_id = 'scope-legacy'"));
    }

    [Fact]
    public async Task Refresh_NeverWidens_AndARefusedWideningDoesNotSpendTheRefreshToken()
    {
        var (tokens, client) = await fixture.SignInAsync("scope-refresh", readOnly: true);

        using var widen = await Refresh(client, tokens.RefreshToken, "neotoma:read neotoma:write");
        var again = await OAuthFixture.ReadTokensAsync(await Refresh(client, tokens.RefreshToken, null));

        Assert.Equal(HttpStatusCode.BadRequest, widen.StatusCode);
        using var error = JsonDocument.Parse(await widen.Content.ReadAsStringAsync());
        Assert.Equal("invalid_scope", error.RootElement.GetProperty("error").GetString());
        Assert.Equal("OAUTH_INVALID_SCOPE", error.RootElement.GetProperty("error_code").GetString());
        Assert.Equal("neotoma:read", again.Scope);
    }

    [Fact]
    public async Task Refresh_MayNarrowTheAccessToken_WhileTheRefreshTokenKeepsWhatWasApproved()
    {
        var (tokens, client) = await fixture.SignInAsync("scope-narrow");

        var narrowed = await OAuthFixture.ReadTokensAsync(await Refresh(client, tokens.RefreshToken, "neotoma:read"));
        using var write = await fixture.SendMcpAsync(narrowed.AccessToken, StoreCall);
        var full = await OAuthFixture.ReadTokensAsync(await Refresh(client, narrowed.RefreshToken, null));

        Assert.Equal("neotoma:read", narrowed.Scope);
        Assert.Equal(HttpStatusCode.Forbidden, write.StatusCode);
        Assert.Equal("neotoma:read neotoma:write", full.Scope);
    }

    /// <summary>The C# SDK client meets the 403, asks the person again for the wider scope, and goes on.</summary>
    [Fact]
    public async Task SdkClient_StepsUpFromReadOnly_WhenATokenCannotWrite()
    {
        using var browser = new BrowserAgent();
        var scopesAsked = new List<string>();
        var transport = fixture.OAuthTransport("Step-up", (authorization, redirect) =>
        {
            scopesAsked.Add(QueryHelpers.ParseQuery(authorization.Query)["scope"].ToString());
            // The person first connects read-only; when the client comes back for more, they approve it.
            return browser.SignInAsync(authorization, redirect, "scope-stepper", readOnly: scopesAsked.Count == 1);
        });

        await using var client = await McpClient.CreateAsync(transport);
        await client.ListToolsAsync();
        var who = await client.CallToolAsync("get_authenticated_user");
        var stored = await client.CallToolAsync("store", new Dictionary<string, object?>
        {
            ["entities"] = new[] { new Dictionary<string, object?> { ["entity_type"] = "company", ["name"] = "Stepped Up" } },
        });

        Assert.NotEqual(true, who.IsError);
        Assert.NotEqual(true, stored.IsError);
        Assert.Equal(2, scopesAsked.Count);
        Assert.Contains("neotoma:write", scopesAsked[1]);
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM entities WHERE user_id = 'scope-stepper' AND canonical_name = 'Stepped Up'"));
    }

    [Fact]
    public void EveryTool_DeclaresAScope_AndWritesAreExactlyTheToolsThatAreNotReadOnly()
    {
        var readOnly = typeof(TruthTools).GetMethods().Concat(typeof(IdentityTools).GetMethods())
            .Select(m => m.GetCustomAttributes(typeof(ModelContextProtocol.Server.McpServerToolAttribute), false).Cast<ModelContextProtocol.Server.McpServerToolAttribute>().SingleOrDefault())
            .Where(a => a is not null)
            .ToDictionary(a => a!.Name!, a => a!.ReadOnly);

        Assert.Equal(readOnly.Keys.Order(), ToolScopes.All.Keys.Order());
        Assert.All(readOnly, tool => Assert.Equal(tool.Value ? "neotoma:read" : "neotoma:write", ToolScopes.All[tool.Key]));
    }

    private Task<HttpResponseMessage> Refresh(OAuthFixture.RegisteredClient client, string refreshToken, string? scope)
    {
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = refreshToken,
            ["client_id"] = client.ClientId,
        };
        if (scope is not null)
        {
            form["scope"] = scope;
        }

        return fixture.TokenRequestAsync(form);
    }
}

/// <summary>The app with one more tool registered that declares no scope, as a careless addition would.</summary>
public sealed class UnscopedToolFixture : OAuthFixture
{
    public const string ToolName = "unscoped_tool";

    protected override void ConfigureServices(Microsoft.Extensions.DependencyInjection.IServiceCollection services) =>
        Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton(services,
            ModelContextProtocol.Server.McpServerTool.Create(() => "ran", new ModelContextProtocol.Server.McpServerToolCreateOptions { Name = ToolName }));
}

/// <summary>The scope filter fails closed: a tool that declares no scope runs for no one.</summary>
public sealed class UnscopedToolTests(UnscopedToolFixture fixture) : IClassFixture<UnscopedToolFixture>
{
    [Fact]
    public async Task ToolWithoutADeclaredScope_IsRefused_EvenToAFullGrant()
    {
        var (tokens, _) = await fixture.SignInAsync("unscoped-caller");
        await using var client = await fixture.ConnectWithTokenAsync(tokens.AccessToken);
        Assert.Contains(await client.ListToolsAsync(), tool => tool.Name == UnscopedToolFixture.ToolName);

        var result = await client.CallToolAsync(UnscopedToolFixture.ToolName);

        Assert.True(result.IsError);
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        Assert.Contains("declares no scope", text);
        Assert.DoesNotContain("ran", text);
    }
}
