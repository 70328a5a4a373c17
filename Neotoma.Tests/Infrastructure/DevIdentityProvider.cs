using System.Diagnostics;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// The real OpenID provider of dev/idp (oidc-provider on Node), started for a test class
/// with one client whose redirect URI is the Neotoma instance under test.
/// </summary>
public sealed class DevIdentityProvider : IAsyncDisposable
{
    public const string ClientId = "neotoma-test";
    public const string ClientSecret = "neotoma-test-secret";

    private readonly Process process;

    private DevIdentityProvider(Process process, Uri issuer)
    {
        this.process = process;
        Issuer = issuer;
    }

    public Uri Issuer { get; }

    public static async Task<DevIdentityProvider> StartAsync(string redirectUri, bool enableRegistration = false)
    {
        var port = SelfHostServer.FreePort();
        var issuer = new Uri($"http://127.0.0.1:{port}");
        var start = new ProcessStartInfo("node", "server.mjs")
        {
            WorkingDirectory = Path.Combine(RepositoryRoot(), "dev", "idp"),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["IDP_PORT"] = port.ToString();
        start.Environment["IDP_ISSUER"] = issuer.ToString().TrimEnd('/');
        start.Environment["IDP_CLIENT_ID"] = ClientId;
        start.Environment["IDP_CLIENT_SECRET"] = ClientSecret;
        start.Environment["IDP_REDIRECT_URIS"] = redirectUri;
        start.Environment["IDP_ENABLE_REGISTRATION"] = enableRegistration ? "1" : "0";

        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("listening") == true)
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) => errors.AppendLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var finished = await Task.WhenAny(ready.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(20)));
        if (finished != ready.Task)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"The dev OpenID provider did not start (is `npm ci` done in dev/idp?): {errors}");
        }

        return new DevIdentityProvider(process, issuer);
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Neotoma.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Neotoma.sln not found above " + AppContext.BaseDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }
}
