using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;
using Neotoma.Core.OAuth;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// Enterprise-managed authorization: the dev provider is also the organization's IdP (it issues ID-JAGs by
/// token exchange to its client <see cref="IdpClientId"/>, the MCP client's own registration there), trusted
/// in ENTERPRISE_IDPS for the enterprise clients registered here as the operator's verb would.
/// </summary>
public sealed class EnterpriseFixture : OAuthFixture
{
    public const string IdpClientId = "enterprise-app";
    public const string IdpClientSecret = "enterprise-app-secret";
    public static readonly Uri IdpRedirectUri = new("http://127.0.0.1:8977/idp-callback");

    /// <summary>Authenticates with client_secret_basic; the client the IdP's policy names for Neotoma.</summary>
    public const string BasicClientId = "neotoma-enterprise";

    /// <summary>Authenticates with client_secret_post.</summary>
    public const string PostClientId = "neotoma-enterprise-post";

    /// <summary>Another enterprise client the IdP trusts, for ID-JAGs issued to someone else.</summary>
    public const string OtherClientId = "neotoma-enterprise-other";

    /// <summary>Registered, but not among the IdP's clients in ENTERPRISE_IDPS.</summary>
    public const string UntrustedClientId = "neotoma-enterprise-untrusted";

    /// <summary>Registered for the rate-limit test alone (the limit counts per client_id).</summary>
    public const string BurstClientId = "neotoma-enterprise-burst";

    public const int JwtBearerLimit = 60;

    public Dictionary<string, string> Secrets { get; } = [];

    public string IdpIssuer => Provider.Issuer.ToString().TrimEnd('/');

    protected override IReadOnlyDictionary<string, string>? ProviderEnvironment(string appIssuer) => new Dictionary<string, string>
    {
        ["IDP_ENTERPRISE_CLIENTS"] = JsonSerializer.Serialize(new[]
        {
            new
            {
                client_id = IdpClientId, client_secret = IdpClientSecret, redirect_uris = new[] { IdpRedirectUri.ToString() },
                audiences = new Dictionary<string, object>
                {
                    [appIssuer] = new { client_id = BasicClientId, scopes = new[] { "neotoma:read", "neotoma:write" } },
                },
            },
        }),
    };

    protected override void Configure(Dictionary<string, string?> settings)
    {
        settings[SettingNames.EnterpriseIdps] = JsonSerializer.Serialize(new[]
        {
            new
            {
                issuer = IdpIssuer, tenants = Array.Empty<string>(), clients = new[] { BasicClientId, PostClientId, OtherClientId },
                scopes = new[] { "neotoma:read", "neotoma:write" }, access_token_minutes = 10,
            },
        });
        settings[SettingNames.RateLimitJwtBearer] = JwtBearerLimit.ToString();
    }

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var clients = Server.Services.GetRequiredService<EnterpriseClients>();
        foreach (var (id, method) in new[] { (BasicClientId, ClientSecrets.Basic), (PostClientId, ClientSecrets.Post), (OtherClientId, ClientSecrets.Basic),
            (UntrustedClientId, ClientSecrets.Basic), (BurstClientId, ClientSecrets.Basic) })
        {
            Secrets[id] = (await clients.RegisterAsync("Acme assistant " + id, method, null, id, CancellationToken.None)).ClientSecret!;
        }
    }

    /// <summary>The person signs in at the IdP in the MCP client's browser (the only browser step): the IdP's ID token for them.</summary>
    public async Task<string> IdTokenAsync(string login)
    {
        var (verifier, challenge) = NewPkce();
        var authorize = new Uri(Provider.Issuer, "/auth?" + string.Join("&", new Dictionary<string, string>
        {
            ["client_id"] = IdpClientId, ["response_type"] = "code", ["scope"] = "openid email", ["redirect_uri"] = IdpRedirectUri.ToString(),
            ["code_challenge"] = challenge, ["code_challenge_method"] = "S256", ["state"] = "s", ["nonce"] = "n",
        }.Select(p => $"{p.Key}={Uri.EscapeDataString(p.Value)}")));
        using var browser = new BrowserAgent();
        var landing = await browser.SignInAsync(authorize, IdpRedirectUri, login);
        var code = QueryHelpers.ParseQuery(landing.Query)["code"].ToString();
        using var http = new HttpClient();
        var response = await http.PostAsync(new Uri(Provider.Issuer, "/token"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = IdpRedirectUri.ToString(), ["code_verifier"] = verifier,
            ["client_id"] = IdpClientId, ["client_secret"] = IdpClientSecret,
        }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("id_token").GetString()!;
    }

    /// <summary>RFC 8693 token exchange at the IdP: the ID token for an ID-JAG for Neotoma.</summary>
    public async Task<HttpResponseMessage> ExchangeAtIdpAsync(string idToken, string? scope = null, string? audience = null)
    {
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "urn:ietf:params:oauth:grant-type:token-exchange",
            ["requested_token_type"] = "urn:ietf:params:oauth:token-type:id-jag",
            ["subject_token_type"] = "urn:ietf:params:oauth:token-type:id_token",
            ["subject_token"] = idToken,
            ["audience"] = audience ?? Issuer,
            ["resource"] = Resource,
            ["client_id"] = IdpClientId,
            ["client_secret"] = IdpClientSecret,
        };
        if (scope is not null)
        {
            form["scope"] = scope;
        }

        using var http = new HttpClient();
        return await http.PostAsync(new Uri(Provider.Issuer, "/token"), new FormUrlEncodedContent(form));
    }

    public async Task<string> IdJagAsync(string login, string? scope = null)
    {
        var response = await ExchangeAtIdpAsync(await IdTokenAsync(login), scope);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("urn:ietf:params:oauth:token-type:id-jag", json.RootElement.GetProperty("issued_token_type").GetString());
        return json.RootElement.GetProperty("access_token").GetString()!;
    }

    /// <summary>The claims of a good ID-JAG for <paramref name="sub"/>, to change one at a time.</summary>
    public Dictionary<string, object> GoodClaims(string sub, string clientId = BasicClientId)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return new Dictionary<string, object>
        {
            ["iss"] = IdpIssuer, ["sub"] = sub, ["aud"] = Issuer, ["client_id"] = clientId, ["jti"] = Guid.NewGuid().ToString(),
            ["iat"] = now, ["exp"] = now + 300, ["scope"] = "neotoma:read neotoma:write", ["resource"] = Resource,
        };
    }

    /// <summary>An ID-JAG of any shape, signed with the IdP's own key (its dev control).</summary>
    public async Task<string> MintAsync(IDictionary<string, object> claims, IDictionary<string, object>? header = null)
    {
        using var http = new HttpClient();
        var response = await http.PostAsync(new Uri(Provider.Issuer, "/__dev/id-jag"), JsonContent.Create(new { header = header ?? new Dictionary<string, object>(), claims }));
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("assertion").GetString()!;
    }

    /// <summary>The JWT bearer grant at Neotoma's token endpoint, the client authenticating with its secret (Basic or in the form, as registered).</summary>
    public async Task<HttpResponseMessage> GrantAsync(string assertion, string clientId = BasicClientId, string? scope = null, bool authenticate = true)
    {
        var form = new Dictionary<string, string> { ["grant_type"] = IdJagGrant.GrantType, ["assertion"] = assertion };
        if (scope is not null)
        {
            form["scope"] = scope;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/mcp/oauth/token");
        if (!authenticate)
        {
            form["client_id"] = clientId;
        }
        else if (clientId == PostClientId)
        {
            form["client_id"] = clientId;
            form["client_secret"] = Secrets[clientId];
        }
        else
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Uri.EscapeDataString(clientId)}:{Uri.EscapeDataString(Secrets[clientId])}")));
        }

        request.Content = new FormUrlEncodedContent(form);
        return await App.Client.SendAsync(request);
    }
}
