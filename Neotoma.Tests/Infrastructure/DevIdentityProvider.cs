using System.Diagnostics;
using System.Net.Http.Json;
using Neotoma.TestSupport;

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
    private readonly string redirectUri;
    private readonly bool enableRegistration;
    private readonly IReadOnlyDictionary<string, string>? environment;
    private int disposed;

    private DevIdentityProvider(Process process, Uri issuer, string redirectUri, bool enableRegistration, IReadOnlyDictionary<string, string>? environment)
    {
        this.process = process;
        this.redirectUri = redirectUri;
        this.enableRegistration = enableRegistration;
        this.environment = environment;
        Issuer = issuer;
    }

    public Uri Issuer { get; }

    /// <summary>SIGSTOP: the provider keeps its port and its state but answers nothing (a hung provider).</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT: the paused provider answers again, its sessions and refresh tokens intact.</summary>
    public void Resume() => Signal("CONT");

    /// <summary>Stops this provider and starts another on the same issuer URL, with a new signing key (a key rotation).</summary>
    public async Task<DevIdentityProvider> RestartAsync()
    {
        await DisposeAsync();
        return await StartAsync(redirectUri, enableRegistration, Issuer.Port, environment);
    }

    /// <summary>
    /// Makes the token endpoint (or the revocation endpoint) answer 503 temporarily_unavailable, or the token
    /// endpoint send expires_in as a string, until changed back.
    /// </summary>
    public async Task SetQuirksAsync(bool tokenOutage = false, bool expiresInAsString = false, bool revocationOutage = false)
    {
        using var http = new HttpClient();
        var response = await http.PostAsync(new Uri(Issuer, "/__dev/quirks"), JsonContent.Create(new { tokenOutage, expiresInAsString, revocationOutage }));
        response.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// RFC 7662, as the provider's registered client: whether the provider still honours a token it issued
    /// (introspection spends nothing, unlike a refresh, which would rotate the token).
    /// </summary>
    public async Task<bool> IsActiveAsync(string token, string tokenTypeHint = "refresh_token")
    {
        using var http = new HttpClient();
        using var discovery = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri(Issuer, "/.well-known/openid-configuration")));
        var endpoint = discovery.RootElement.GetProperty("introspection_endpoint").GetString()!;
        using var response = await http.PostAsync(endpoint, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = token, ["token_type_hint"] = tokenTypeHint, ["client_id"] = ClientId, ["client_secret"] = ClientSecret,
        }));
        response.EnsureSuccessStatusCode();
        using var answer = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return answer.RootElement.GetProperty("active").GetBoolean();
    }

    /// <summary>Revokes a token here, as the provider does when the person is disabled or signs out everywhere there.</summary>
    public async Task RevokeAsync(string token)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri(Issuer, "/token/revocation"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = token, ["client_id"] = ClientId, ["client_secret"] = ClientSecret,
        }));
        response.EnsureSuccessStatusCode();
    }

    private void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, process.Id.ToString()])!;
        kill.WaitForExit();
    }

    /// <param name="environment">More settings of the provider (IDP_ENTERPRISE_CLIENTS, for enterprise-managed authorization).</param>
    public static async Task<DevIdentityProvider> StartAsync(
        string redirectUri, bool enableRegistration = false, int? port = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        port ??= FreePorts.Next();
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
        start.Environment["IDP_DEV_CONTROLS"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

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

        return new DevIdentityProvider(process, issuer, redirectUri, enableRegistration, environment);
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

    /// <summary>Stops the provider; safe to call again (a test that stopped it, then the fixture).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }
}
