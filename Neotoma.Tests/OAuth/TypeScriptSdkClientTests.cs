using System.Diagnostics;
using System.Text.Json;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>The official TypeScript MCP SDK client (npm @modelcontextprotocol/sdk) connects with nothing but the URL, and refreshes.</summary>
public sealed class TypeScriptSdkClientTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    [Fact]
    public async Task TypeScriptSdkClient_SignsInRefreshesStoresAndRetrieves()
    {
        var start = new ProcessStartInfo("node", ["client.mjs", fixture.Resource])
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
        string? result = null, afterRefresh = null, retrieved = null;
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith("AUTHORIZE "))
                {
                    using var browser = new BrowserAgent();
                    var landing = await browser.SignInAsync(new Uri(line["AUTHORIZE ".Length..]), new Uri("http://127.0.0.1:8976/callback"), "ts-user");
                    await process.StandardInput.WriteLineAsync(landing.ToString());
                    await process.StandardInput.FlushAsync();
                }
                else if (line.StartsWith("RESULT "))
                {
                    result = line["RESULT ".Length..];
                }
                else if (line.StartsWith("RESULT_AFTER_REFRESH "))
                {
                    afterRefresh = line["RESULT_AFTER_REFRESH ".Length..];
                }
                else if (line.StartsWith("RESULT_RETRIEVED "))
                {
                    retrieved = line["RESULT_RETRIEVED ".Length..];
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

        Assert.True(process.ExitCode == 0, "client.mjs failed: " + await stderr);
        Assert.Equal("ts-user", UserIdOf(result));
        Assert.Equal("ts-user", UserIdOf(afterRefresh));
        var entities = TextOf(retrieved).RootElement;
        Assert.Equal(1, entities.GetProperty("total").GetInt32());
        Assert.Equal("Acme Rockets", entities.GetProperty("entities")[0].GetProperty("canonical_name").GetString());
        Assert.True(await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'token_refresh_initiated' AND user_id = 'ts-user'") >= 1);
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
