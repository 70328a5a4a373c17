using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Neotoma.Core.Configuration;
using Neotoma.Core.OAuth;
using Neotoma.Functions;
using Neotoma.Functions.SelfHost;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

/// <summary>
/// A missing or malformed setting stops the app when it starts and names itself; every bad setting
/// is reported at once, so a person fixes them in one pass.
/// </summary>
public sealed class StartupConfigurationTests
{
    private static readonly Dictionary<string, string?> Valid = new()
    {
        [SettingNames.DatabaseConnectionString] = "Host=127.0.0.1;Port=1;Database=x;Username=y;Password=z",
        [SettingNames.ApiBase] = "http://localhost:8080",
        [SettingNames.EncryptionKey] = SelfHostServer.TestEncryptionKey,
        [SettingNames.UpstreamIssuer] = "http://127.0.0.1:9",
    };

    /// <summary>Builds the self-host with these settings changed and starts it: what refused the start.</summary>
    private static async Task<Exception?> StartAsync(params (string Setting, string? Value)[] changes)
    {
        var settings = new Dictionary<string, string?>(Valid);
        foreach (var (setting, value) in changes)
        {
            settings[setting] = value;
        }

        await using var app = SelfHostApplication.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(settings);
        });
        return await Record.ExceptionAsync(() => app.StartAsync());
    }

    /// <summary>Every failure the start reported, as the verbs print them.</summary>
    private static async Task<IReadOnlyList<string>> FailuresAsync(params (string Setting, string? Value)[] changes)
    {
        var e = await StartAsync(changes);
        Assert.NotNull(e);
        return Settings.Failures(e) ?? throw new Xunit.Sdk.XunitException($"not an options failure: {e}");
    }

    [Theory]
    [InlineData(SettingNames.ApiBase)]
    [InlineData(SettingNames.DatabaseConnectionString)]
    [InlineData(SettingNames.UpstreamIssuer)]
    public async Task MissingRequiredSetting_IsNamed(string setting)
    {
        var failure = Assert.Single(await FailuresAsync((setting, null)));

        Assert.Equal($"The setting {setting} is required. See docs/configuration.md.", failure);
    }

    [Theory]
    [InlineData("not a url", "must be the absolute http(s) URL")]
    [InlineData("ftp://neotoma.example.com", "must be the absolute http(s) URL")]
    [InlineData("https://neotoma.example.com/?x=1", "must be the absolute http(s) URL")]
    [InlineData("https://example.com/neotoma", "must be an origin without a path")]
    public async Task MalformedApiBase_IsNamed(string value, string fix)
    {
        var failure = Assert.Single(await FailuresAsync((SettingNames.ApiBase, value)));

        Assert.StartsWith(SettingNames.ApiBase + " " + fix, failure);
        Assert.Contains($"got '{value}'", failure);
    }

    [Fact]
    public void ApiBaseWithTrailingSlash_GivesAnIssuerWithout()
    {
        Assert.Equal("https://neotoma.example.com", OAuthServerOptions.NormalizeApiBase("https://neotoma.example.com/", SettingNames.ApiBase));
        Assert.Equal("http://localhost:8080", OAuthServerOptions.NormalizeApiBase("http://localhost:8080", SettingNames.ApiBase));
    }

    [Theory]
    [InlineData(null, "OAUTH_ENCRYPTION_KEY_MISSING: MCP_TOKEN_ENCRYPTION_KEY is not set.")]
    [InlineData("abc123", "OAUTH_ENCRYPTION_KEY_INVALID: MCP_TOKEN_ENCRYPTION_KEY must be exactly 64 hex characters")]
    public async Task EncryptionKeyProblems_StopStartupWithTheGuidesCode(string? key, string message)
    {
        var failure = Assert.Single(await FailuresAsync((SettingNames.EncryptionKey, key)));

        Assert.StartsWith(message, failure);
    }

    [Fact]
    public async Task UnknownPreset_IsNamed()
    {
        var failure = Assert.Single(await FailuresAsync((SettingNames.UpstreamPreset, "okta-ish")));

        Assert.Equal("OIDC_PRESET must be oidc, entra or supabase; got 'okta-ish'.", failure);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("3651")]
    [InlineData("99999999")]
    public async Task PersonalTokenMaxDaysOutOfRange_IsNamed(string value)
    {
        var failure = Assert.Single(await FailuresAsync((SettingNames.PersonalTokenMaxDays, value)));

        Assert.Equal($"PERSONAL_TOKEN_MAX_DAYS must be 1 to 3650 days; got {value}.", failure);
    }

    [Fact]
    public async Task EnterpriseIdps_EveryProblemIsNamed_AndEntraNeedsItsTenants()
    {
        var failures = await FailuresAsync((SettingNames.EnterpriseIdps, """
            [{"issuer": "https://login.microsoftonline.com/organizations/v2.0", "tenants": ["common"], "clients": ["c"], "scopes": ["neotoma:read"]},
             {"issuer": "https://login.microsoftonline.com/x/v2.0", "clients": ["c"], "scopes": ["neotoma:read"]},
             {"issuer": "http://idp.example.com", "clients": ["c"], "scopes": ["neotoma:read"]},
             {"issuer": "https://acme.okta.com", "clients": [], "scopes": ["admin"], "access_token_minutes": 600}]
            """));

        Assert.Contains(failures, f => f.Contains("tenant 'common' is not a tenant id", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Entra ID needs tenants", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("issuer must be the IdP's issuer URL", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("clients must list", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("scopes must list", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("access_token_minutes must be 1 to 60", StringComparison.Ordinal));
        Assert.All(failures, f => Assert.StartsWith(SettingNames.EnterpriseIdps, f));
        Assert.Equal(6, failures.Count);
        Assert.StartsWith("ENTERPRISE_IDPS is not JSON", Assert.Single(await FailuresAsync((SettingNames.EnterpriseIdps, "[{"))));
    }

    [Fact]
    public void EnterpriseIdps_AWellFormedSetting_IsRead()
    {
        var options = EnterpriseIdpOptions.Parse("""
            [{"issuer": "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0",
              "tenants": ["11111111-1111-1111-1111-111111111111"], "clients": ["ent_a"], "scopes": ["neotoma:read"], "access_token_minutes": 5}]
            """);

        Assert.Empty(options.Problems);
        var idp = Assert.Single(options.Idps);
        Assert.Equal(TimeSpan.FromMinutes(5), idp.AccessTokenLifetime);
        Assert.Equal(["11111111-1111-1111-1111-111111111111"], idp.Tenants);
    }

    [Fact]
    public async Task SeveralBadSettings_AreAllReportedAtOnce()
    {
        var failures = await FailuresAsync(
            (SettingNames.ApiBase, "https://example.com/neotoma"),
            (SettingNames.PersonalTokenMaxDays, "0"),
            (SettingNames.UpstreamPreset, "okta-ish"),
            (SettingNames.RateLimitToken, "lots"));

        Assert.Equal(4, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("API_BASE must be an origin without a path", StringComparison.Ordinal));
        Assert.Contains("PERSONAL_TOKEN_MAX_DAYS must be 1 to 3650 days; got 0.", failures);
        Assert.Contains("OIDC_PRESET must be oidc, entra or supabase; got 'okta-ish'.", failures);
        Assert.Contains("RATE_LIMIT_TOKEN_PER_MINUTE must be a whole number of 0 or more; got 'lots'.", failures);
    }

    [Fact]
    public async Task Verb_PrintsEveryFailure_OneLineEach_AndExits1()
    {
        var e = await StartAsync((SettingNames.DatabaseConnectionString, null), (SettingNames.UpstreamPreset, "okta-ish"));
        var error = new StringWriter();
        var stderr = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(1, await Cli.RunAsync(() => Task.FromException(e!)));
        }
        finally
        {
            Console.SetError(stderr);
        }

        Assert.Equal(
            ["neotoma: The setting DATABASE_CONNECTION_STRING is required. See docs/configuration.md.",
             "neotoma: OIDC_PRESET must be oidc, entra or supabase; got 'okta-ish'."],
            error.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task ValidSettings_BindToTheOptionsServicesTake()
    {
        await using var app = SelfHostApplication.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(
                new Dictionary<string, string?>(Valid) { [SettingNames.ApiBase] = "https://neotoma.example.com/", [SettingNames.PersonalTokenMaxDays] = "30" });
        });

        var server = app.Services.GetRequiredService<OAuthServerOptions>();
        Assert.Same(app.Services.GetRequiredService<IOptions<OAuthServerOptions>>().Value, server);
        Assert.Equal("https://neotoma.example.com", server.Issuer);
        Assert.Equal(TimeSpan.FromDays(30), server.PersonalTokenMaxLifetime);
        Assert.Equal("https://neotoma.example.com/api/mcp/oauth/callback", app.Services.GetRequiredService<Neotoma.Core.Upstream.UpstreamOptions>().RedirectUri);
    }
}
