using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Tests.Infrastructure;
using Neotoma.Tests.WorkerPath;

namespace Neotoma.Tests.OAuth;

/// <summary>The official TypeScript MCP SDK client (npm @modelcontextprotocol/sdk) connects with nothing but the URL, and refreshes.</summary>
public abstract class TypeScriptSdkClientSuite<TFixture>(TFixture fixture) where TFixture : OAuthFixture
{
    [Fact]
    public async Task TypeScriptSdkClient_SignsInRefreshesStoresAndRetrieves()
    {
        var run = await TypeScriptClient.RunAsync("client.mjs", fixture.Resource, (_, uri) => SignInAsync(uri, "ts-user", readOnly: false));

        Assert.Equal("ts-user", UserIdOf(run.Output["RESULT"]));
        Assert.Equal("ts-user", UserIdOf(run.Output["RESULT_AFTER_REFRESH"]));
        var entities = TextOf(run.Output["RESULT_RETRIEVED"]).RootElement;
        Assert.Equal(1, entities.GetProperty("total").GetInt32());
        Assert.Equal("Acme Rockets", entities.GetProperty("entities")[0].GetProperty("canonical_name").GetString());
        Assert.True(await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'token_refresh_initiated' AND user_id = 'ts-user'") >= 1);
    }

    /// <summary>Read-only consent, a write answered 403 insufficient_scope, the SDK asks for more, the person approves, the write lands.</summary>
    [Fact]
    public async Task TypeScriptSdkClient_StepsUpFromReadOnlyToWrite()
    {
        var run = await TypeScriptClient.RunAsync("stepup.mjs", fixture.Resource, (attempt, uri) => SignInAsync(uri, "ts-stepper", readOnly: attempt == 0));

        Assert.Equal(2, run.Authorizations.Count);
        Assert.All(run.Authorizations, uri => Assert.Equal(fixture.Resource, QueryHelpers.ParseQuery(uri.Query)["resource"].ToString()));
        Assert.Contains("neotoma:write", QueryHelpers.ParseQuery(run.Authorizations[1].Query)["scope"].ToString());
        Assert.Equal("ts-stepper", UserIdOf(run.Output["RESULT_READ"]));
        TextOf(run.Output["RESULT_STORED"]).Dispose();
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM entities WHERE user_id = 'ts-stepper' AND canonical_name = 'Stepped Up Rockets'"));
        Assert.Equal("neotoma:read|neotoma:read neotoma:write", await fixture.Database.AdminScalarAsync<string>(
            "SELECT string_agg(DISTINCT scope, '|' ORDER BY scope) FROM mcp_oauth_tokens WHERE user_id = 'ts-stepper'"));
    }

    private static Task<Uri> SignInAsync(Uri authorizationUri, string login, bool readOnly) =>
        TypeScriptClient.SignInAsync(authorizationUri, login, readOnly);

    internal static string? UserIdOf(string? toolResult)
    {
        using var user = TextOf(toolResult);
        return user.RootElement.GetProperty("user_id").GetString();
    }

    /// <summary>The JSON text of a tool result's only content block.</summary>
    internal static JsonDocument TextOf(string? toolResult)
    {
        Assert.NotNull(toolResult);
        using var result = JsonDocument.Parse(toolResult);
        Assert.False(result.RootElement.TryGetProperty("isError", out var isError) && isError.GetBoolean(), toolResult);
        return JsonDocument.Parse(result.RootElement.GetProperty("content")[0].GetProperty("text").GetString()!);
    }
}

public sealed class TypeScriptSdkClientTests(OAuthFixture fixture) : TypeScriptSdkClientSuite<OAuthFixture>(fixture), IClassFixture<OAuthFixture>;

/// <summary>The same, with the app in the real worker over the Functions RPC protocol (SSE through the host's forwarding).</summary>
public sealed class WorkerPathTypeScriptSdkClientTests(WorkerPathFixture fixture)
    : TypeScriptSdkClientSuite<WorkerPathFixture>(fixture), IClassFixture<WorkerPathFixture>;
