using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>The official TypeScript MCP SDK client (npm @modelcontextprotocol/sdk) connects with nothing but the URL, and refreshes.</summary>
public sealed class TypeScriptSdkClientTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private static readonly Uri RedirectUri = new("http://127.0.0.1:8976/callback");

    [Fact]
    public async Task TypeScriptSdkClient_SignsInRefreshesStoresAndRetrieves()
    {
        var run = await RunAsync("client.mjs", (_, uri) => SignInAsync(uri, "ts-user", readOnly: false));

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
        var run = await RunAsync("stepup.mjs", (attempt, uri) => SignInAsync(uri, "ts-stepper", readOnly: attempt == 0));

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

    private static async Task<Uri> SignInAsync(Uri authorizationUri, string login, bool readOnly)
    {
        using var browser = new BrowserAgent();
        return await browser.SignInAsync(authorizationUri, RedirectUri, login, readOnly: readOnly);
    }

    private sealed record Run(IReadOnlyList<Uri> Authorizations, IReadOnlyDictionary<string, string> Output);

    /// <summary>
    /// Runs a script of dev/ts-client against /mcp, playing the person's browser each time it
    /// prints <c>AUTHORIZE url</c>; collects its <c>RESULT_* json</c> lines.
    /// </summary>
    private async Task<Run> RunAsync(string script, Func<int, Uri, Task<Uri>> authorize)
    {
        var start = new ProcessStartInfo("node", [script, fixture.Resource])
        {
            WorkingDirectory = Path.Combine(DevIdentityProvider.RepositoryRoot(), "dev", "ts-client"),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var authorizations = new List<Uri>();
        var output = new Dictionary<string, string>();
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith("AUTHORIZE "))
                {
                    var uri = new Uri(line["AUTHORIZE ".Length..]);
                    var landing = await authorize(authorizations.Count, uri);
                    authorizations.Add(uri);
                    await process.StandardInput.WriteLineAsync(landing.ToString());
                    await process.StandardInput.FlushAsync();
                }
                else if (line.StartsWith("RESULT") && line.IndexOf(' ') is > 0 and var space)
                {
                    output[line[..space]] = line[(space + 1)..];
                }
            }

            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        Assert.True(process.ExitCode == 0, $"{script} failed: " + await stderr);
        return new Run(authorizations, output);
    }

    private static string? UserIdOf(string? toolResult)
    {
        using var user = TextOf(toolResult);
        return user.RootElement.GetProperty("user_id").GetString();
    }

    /// <summary>The JSON text of a tool result's only content block.</summary>
    private static JsonDocument TextOf(string? toolResult)
    {
        Assert.NotNull(toolResult);
        using var result = JsonDocument.Parse(toolResult);
        Assert.False(result.RootElement.TryGetProperty("isError", out var isError) && isError.GetBoolean(), toolResult);
        return JsonDocument.Parse(result.RootElement.GetProperty("content")[0].GetProperty("text").GetString()!);
    }
}
