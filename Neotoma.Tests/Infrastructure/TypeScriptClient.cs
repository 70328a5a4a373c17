using System.Diagnostics;

namespace Neotoma.Tests.Infrastructure;

/// <summary>The official TypeScript MCP SDK client: the scripts of dev/ts-client, with a test playing the person's browser.</summary>
public static class TypeScriptClient
{
    public static readonly Uri RedirectUri = new("http://127.0.0.1:8976/callback");

    public static async Task<Uri> SignInAsync(Uri authorizationUri, string login, bool readOnly = false)
    {
        using var browser = new BrowserAgent();
        return await browser.SignInAsync(authorizationUri, RedirectUri, login, readOnly: readOnly);
    }

    public sealed record Run(IReadOnlyList<Uri> Authorizations, IReadOnlyDictionary<string, string> Output);

    /// <summary>
    /// Runs a script of dev/ts-client against /mcp, playing the person's browser each time it
    /// prints <c>AUTHORIZE url</c>; collects its <c>RESULT_* json</c> lines.
    /// </summary>
    public static async Task<Run> RunAsync(string script, string mcpUrl, Func<int, Uri, Task<Uri>> authorize, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("node", [script, mcpUrl])
        {
            WorkingDirectory = Path.Combine(DevIdentityProvider.RepositoryRoot(), "dev", "ts-client"),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

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
}
