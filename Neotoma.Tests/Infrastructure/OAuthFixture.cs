using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Configuration;
using Neotoma.TestSupport;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// A migrated database, the dev OpenID provider and Neotoma wired to both, for one test class.
/// Also drives the OAuth flow over raw HTTP, as an MCP client would, for tests of single steps.
/// </summary>
public class OAuthFixture : IAsyncLifetime
{
    public DatabaseFixture Database { get; } = new();

    public DevIdentityProvider Provider { get; private set; } = null!;

    /// <summary>The app as the tests reach it, through whichever host this fixture runs it on.</summary>
    public IAppServer App { get; private set; } = null!;

    /// <summary>The self-hosted app, for tests that reach into its services.</summary>
    public SelfHostServer Server => App as SelfHostServer
        ?? throw new InvalidOperationException("This fixture runs the app through the worker host; use App.");

    /// <summary>
    /// Runs the app as Azure does, in the real isolated worker driven over the Functions RPC
    /// protocol, instead of on the self-host. Services cannot be replaced there (another process).
    /// </summary>
    protected virtual bool ThroughWorker => false;

    /// <summary>Every line the app logged, to prove what never appears in logs.</summary>
    public LogCollector Logs { get; } = new();

    public Uri BaseAddress => App.BaseAddress;

    public string Issuer => BaseAddress.ToString().TrimEnd('/');

    public string Resource => Issuer + "/mcp";

    private int port;

    public virtual async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        await BeforeStartAsync();
        port = FreePorts.Next();
        Provider = await DevIdentityProvider.StartAsync($"http://127.0.0.1:{port}/api/mcp/oauth/callback",
            environment: ProviderEnvironment($"http://127.0.0.1:{port}"));
        App = await StartAppAsync();
    }

    /// <summary>Restarts the upstream provider on the same issuer URL, signing with a new key.</summary>
    public async Task RestartProviderAsync() => Provider = await Provider.RestartAsync();

    /// <summary>Stops the app and starts it again on the same URL (a deployment, a key rotation).</summary>
    public async Task RestartServerAsync()
    {
        await App.DisposeAsync();
        App = await StartAppAsync();
    }

    /// <summary>
    /// Another instance of the app on the same database, provider and API_BASE, as a second
    /// Functions instance behind the same URL would be, with <paramref name="configure"/> changing
    /// its settings (one instance configured differently). The caller disposes it.
    /// </summary>
    public async Task<SelfHostServer> StartSecondInstanceAsync(Action<Dictionary<string, string?>>? configure = null) =>
        (SelfHostServer)await StartAppAsync(FreePorts.Next(), configure);

    private async Task<IAppServer> StartAppAsync(int? instancePort = null, Action<Dictionary<string, string?>>? configure = null)
    {
        var settings = new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = Database.AppConnectionString,
            [SettingNames.UpstreamIssuer] = Provider.Issuer.ToString(),
            [SettingNames.UpstreamClientId] = DevIdentityProvider.ClientId,
            [SettingNames.UpstreamClientSecret] = DevIdentityProvider.ClientSecret,
        };
        Configure(settings);
        configure?.Invoke(settings);
        if (instancePort is not null)
        {
            settings[SettingNames.ApiBase] = Issuer;
        }

        if (ThroughWorker && instancePort is null)
        {
            return await WorkerHostServer.StartAsync(settings, port, Logs, WorkerTime);
        }

        return await SelfHostServer.StartAsync(settings, services =>
        {
            services.AddSingleton<ILoggerProvider>(Logs);
            ConfigureServices(services);
        }, port: instancePort ?? port);
    }

    /// <summary>The clock the worker host's timer schedules run on (worker-path fixtures only).</summary>
    protected virtual TimeProvider WorkerTime => TimeProvider.System;

    /// <summary>More settings of the dev provider, given the issuer the app will have.</summary>
    protected virtual IReadOnlyDictionary<string, string>? ProviderEnvironment(string appIssuer) => null;

    /// <summary>Runs before the provider and the app start (a derived fixture starts what the app needs).</summary>
    protected virtual Task BeforeStartAsync() => Task.CompletedTask;

    protected virtual void Configure(Dictionary<string, string?> settings)
    {
    }

    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    public virtual async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Provider.DisposeAsync();
        await Database.DisposeAsync();
    }

    public sealed record RegisteredClient(string ClientId, Uri RedirectUri);

    public sealed record Tokens(string AccessToken, string RefreshToken, int ExpiresIn, string Scope);

    public async Task<RegisteredClient> RegisterAsync(string redirectUri = "http://127.0.0.1:8787/callback", string name = "Test Client", string? applicationType = null)
    {
        var registration = new Dictionary<string, object>
        {
            ["client_name"] = name,
            ["redirect_uris"] = new[] { redirectUri },
            ["grant_types"] = new[] { "authorization_code", "refresh_token" },
            ["token_endpoint_auth_method"] = "none",
        };
        if (applicationType is not null)
        {
            registration["application_type"] = applicationType;
        }

        var response = await App.Client.PostAsJsonAsync("/api/mcp/oauth/register", registration);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return new RegisteredClient(body.RootElement.GetProperty("client_id").GetString()!, new Uri(redirectUri));
    }

    public static (string Verifier, string Challenge) NewPkce()
    {
        var verifier = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var challenge = Convert.ToBase64String(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return (verifier, challenge);
    }

    public Uri AuthorizeUrl(RegisteredClient client, string challenge, string state = "client-state-1", IDictionary<string, string?>? extra = null)
    {
        var query = new Dictionary<string, string?>
        {
            ["response_type"] = "code",
            ["client_id"] = client.ClientId,
            ["redirect_uri"] = client.RedirectUri.ToString(),
            ["code_challenge"] = challenge,
            ["code_challenge_method"] = "S256",
            ["state"] = state,
            ["resource"] = Resource,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            query[key] = value;
        }

        return new Uri(BaseAddress, QueryHelpers.AddQueryString("/api/mcp/oauth/authorize", query.Where(q => q.Value is not null)!));
    }

    /// <summary>Registration, consent and upstream sign-in: the code that reaches the client's redirect URI.</summary>
    public async Task<(RegisteredClient Client, string Code, string Verifier)> AuthorizeAsync(
        string login, RegisteredClient? client = null, bool readOnly = false, string? scope = null)
    {
        client ??= await RegisterAsync();
        var (verifier, challenge) = NewPkce();
        using var browser = new BrowserAgent();
        var landing = await browser.SignInAsync(AuthorizeUrl(client, challenge, extra: new Dictionary<string, string?> { ["scope"] = scope }),
            client.RedirectUri, login, readOnly: readOnly);
        var query = QueryHelpers.ParseQuery(landing.Query);
        if (!query.TryGetValue("code", out var code))
        {
            throw new InvalidOperationException("No code at the redirect URI: " + landing);
        }

        return (client, code.ToString(), verifier);
    }

    /// <summary>The client's redemption of its code (the authorization_code grant), with the resource when one is given.</summary>
    public static Dictionary<string, string> CodeRedemption(RegisteredClient client, string code, string verifier, string? resource = null)
    {
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["client_id"] = client.ClientId,
            ["redirect_uri"] = client.RedirectUri.ToString(),
            ["code_verifier"] = verifier,
        };
        if (resource is not null)
        {
            form["resource"] = resource;
        }

        return form;
    }

    /// <summary>The client's refresh (the refresh_token grant).</summary>
    public static Dictionary<string, string> RefreshForm(RegisteredClient client, string refreshToken) => new()
    {
        ["grant_type"] = "refresh_token",
        ["refresh_token"] = refreshToken,
        ["client_id"] = client.ClientId,
    };

    /// <summary>The connection an access token was issued for.</summary>
    public async Task<string> ConnectionOfAsync(string accessToken) =>
        (await Database.AdminScalarAsync<string>("SELECT connection_id FROM mcp_oauth_tokens WHERE token_hash = @h",
            ("h", Neotoma.Core.Security.OpaqueToken.Hash(accessToken))))!;

    /// <summary>The client revokes its refresh token (RFC 7009), as a client that disconnects itself does.</summary>
    public async Task RevokeAsync(string refreshToken, string clientId)
    {
        using var response = await Server.Client.PostAsync("/api/mcp/oauth/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = refreshToken, ["token_type_hint"] = "refresh_token", ["client_id"] = clientId,
        }));
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>An upstream token as the app stores it (encrypted with the test key), in the clear.</summary>
    public static string DecryptStored(string stored) =>
        new Neotoma.Core.Security.TokenCipher(SelfHostServer.TestEncryptionKey, "test").TryDecrypt(stored)
        ?? throw new InvalidOperationException("the stored upstream token could not be decrypted");

    public Task<HttpResponseMessage> TokenRequestAsync(IDictionary<string, string> form) =>
        App.Client.PostAsync("/api/mcp/oauth/token", new FormUrlEncodedContent(form));

    public async Task<(Tokens Tokens, RegisteredClient Client)> SignInAsync(
        string login, bool readOnly = false, string? scope = null, string? clientName = null, string? applicationType = null)
    {
        var registered = clientName is null ? null : await RegisterAsync(name: clientName, applicationType: applicationType);
        var (client, code, verifier) = await AuthorizeAsync(login, registered, readOnly: readOnly, scope: scope);
        var response = await TokenRequestAsync(CodeRedemption(client, code, verifier, Resource));
        return (await ReadTokensAsync(response), client);
    }

    public const string ToolsListRequest = """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""";

    /// <summary>A raw JSON-RPC POST to /mcp with the headers Streamable HTTP requires, for tests of the HTTP layer itself.</summary>
    public Task<HttpResponseMessage> SendMcpAsync(string? accessToken, string body = ToolsListRequest, string? protocolVersion = null, IAppServer? instance = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        if (accessToken is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", accessToken);
        }

        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (protocolVersion is not null)
        {
            request.Headers.Add("MCP-Protocol-Version", protocolVersion);
        }

        return (instance ?? App).Client.SendAsync(request);
    }

    /// <summary>An MCP SDK client connected to /mcp as the given user, with a token from the real flow.</summary>
    public async Task<ModelContextProtocol.Client.McpClient> ConnectAsync(string login)
    {
        var (tokens, _) = await SignInAsync(login);
        return await ConnectWithTokenAsync(tokens.AccessToken);
    }

    /// <summary>
    /// The MCP SDK client's transport with its own OAuth: discovery, dynamic registration, and the
    /// person's part played by <paramref name="signIn"/> (authorization URI, redirect URI → where the browser landed).
    /// </summary>
    public ModelContextProtocol.Client.HttpClientTransport OAuthTransport(string clientName, Func<Uri, Uri, Task<Uri>> signIn) =>
        new(new ModelContextProtocol.Client.HttpClientTransportOptions
        {
            Endpoint = new Uri(Resource),
            OAuth = new ModelContextProtocol.Authentication.ClientOAuthOptions
            {
                RedirectUri = new Uri("http://localhost:8787/callback"),
                DynamicClientRegistration = new ModelContextProtocol.Authentication.DynamicClientRegistrationOptions { ClientName = clientName },
                AuthorizationCallbackHandler = async (context, _) =>
                {
                    var landing = await signIn(context.AuthorizationUri, context.RedirectUri);
                    var query = QueryHelpers.ParseQuery(landing.Query);
                    return new ModelContextProtocol.Authentication.AuthorizationResult { Code = query["code"], State = query["state"], Iss = query["iss"] };
                },
            },
        }, new HttpClient(new ToolOutputCheckHandler()), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, ownsHttpClient: true);

    /// <summary>
    /// The C# SDK client with a bearer token, as a host uses it: it lists the tools first, and every
    /// answer it receives is checked against the tool's output schema (<see cref="ToolOutputCheckHandler"/>).
    /// </summary>
    public async Task<ModelContextProtocol.Client.McpClient> ConnectWithTokenAsync(string accessToken)
    {
        var client = await ModelContextProtocol.Client.McpClient.CreateAsync(new ModelContextProtocol.Client.HttpClientTransport(
            new ModelContextProtocol.Client.HttpClientTransportOptions
            {
                Endpoint = new Uri(Resource),
                AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + accessToken },
            }, new HttpClient(new ToolOutputCheckHandler()), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, ownsHttpClient: true));
        await client.ListToolsAsync();
        return client;
    }

    public static async Task<Tokens> ReadTokensAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"token endpoint answered {(int)response.StatusCode}: {text}");
        }

        using var body = JsonDocument.Parse(text);
        var root = body.RootElement;
        return new Tokens(root.GetProperty("access_token").GetString()!, root.GetProperty("refresh_token").GetString()!,
            root.GetProperty("expires_in").GetInt32(), root.GetProperty("scope").GetString()!);
    }
}
