using System.Net;
using System.Text;
using System.Text.Json;
using Azure.Core;
using Azure.Security.KeyVault.Secrets;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Operations;

/// <summary>The app, its dev provider and database, with the encryption key in a Key Vault reached through the real SecretClient.</summary>
public sealed class KeyVaultFixture : OAuthFixture
{
    public const string SecretName = "neotoma-token-key";
    public const string FirstKey = "1111111111111111111111111111111111111111111111111111111111111111";
    public const string SecondKey = "2222222222222222222222222222222222222222222222222222222222222222";

    public FakeKeyVault Vault { get; private set; } = null!;

    protected override async Task BeforeStartAsync()
    {
        Vault = await FakeKeyVault.StartAsync();
        Vault.AddVersion(SecretName, FirstKey);
    }

    protected override void Configure(Dictionary<string, string?> settings)
    {
        settings[SettingNames.KeyVaultUri] = Vault.Uri.ToString();
        settings[SettingNames.KeyVaultSecretName] = SecretName;
        settings[SettingNames.EncryptionKey] = null;
    }

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<TokenCredential>(new StaticTokenCredential(FakeKeyVault.AccessToken));
        services.AddSingleton(Vault.ClientOptions());
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Vault.DisposeAsync();
    }
}

/// <summary>Encryption key from Azure Key Vault, loaded once, with rotation that keeps every connection readable.</summary>
public sealed class KeyVaultTests(KeyVaultFixture fixture) : IClassFixture<KeyVaultFixture>
{
    private async Task<string> StoredRefreshTokenAsync(string user) =>
        (await fixture.Database.AdminScalarAsync<string>(
            "SELECT refresh_token FROM mcp_oauth_connections WHERE user_id = @u AND revoked_at IS NULL", ("u", user)))!;

    [Fact]
    public async Task KeyFromVault_IsLoadedOnceAndEncryptsConnections_ThenRotationKeepsThemReadable()
    {
        var readsAtStartup = fixture.Vault.SecretReads;
        var (alice, aliceClient) = await fixture.SignInAsync("kv-alice");
        await fixture.SignInAsync("kv-bob");

        // Loaded once at start-up: sign-ins read no secret.
        Assert.Equal(readsAtStartup, fixture.Vault.SecretReads);
        Assert.NotNull(new TokenCipher(KeyVaultFixture.FirstKey, "first").TryDecrypt(await StoredRefreshTokenAsync("kv-alice")));

        // Rotate: a new version of the secret, then a restart (a deployment) picks it up.
        fixture.Vault.AddVersion(KeyVaultFixture.SecretName, KeyVaultFixture.SecondKey);
        await fixture.RestartServerAsync();
        var secondOnly = new TokenCipher(KeyVaultFixture.SecondKey, "second");

        // Alice's next refresh still works, and moves her row to the new key.
        var refreshed = await fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = alice.RefreshToken, ["client_id"] = aliceClient.ClientId,
        });
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        Assert.NotNull(secondOnly.TryDecrypt(await StoredRefreshTokenAsync("kv-alice")));

        // Bob's row waits for rotate-key, which re-encrypts everything still under the old key, a provider
        // revocation still queued included (its next attempt an hour away, as after a provider outage).
        Assert.Null(secondOnly.TryDecrypt(await StoredRefreshTokenAsync("kv-bob")));
        await fixture.Database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_upstream_revocations (token, token_type_hint, held_by, next_attempt_at)
            VALUES (@token, 'refresh_token', 'connection: kv-queued', now() + interval '1 hour')
            """, ("token", new TokenCipher(KeyVaultFixture.FirstKey, "first").Encrypt("queued-upstream-refresh-token")));
        var report = await fixture.Server.Services.GetRequiredService<KeyRotationService>().RotateAllAsync(CancellationToken.None);
        Assert.True(report.Reencrypted >= 1);
        Assert.Equal(0, report.Unreadable);
        Assert.NotNull(secondOnly.TryDecrypt(await StoredRefreshTokenAsync("kv-bob")));
        Assert.Matches("^[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+$", await StoredRefreshTokenAsync("kv-bob"));
        Assert.Equal("queued-upstream-refresh-token", secondOnly.TryDecrypt((await fixture.Database.AdminScalarAsync<string>(
            "SELECT token FROM mcp_oauth_upstream_revocations WHERE held_by = 'connection: kv-queued'"))!));
    }
}

/// <summary>A vault that cannot be read is a clear, named failure, never a crash loop or a 500 with a stack trace.</summary>
public sealed class KeyVaultFailureTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private async Task<SelfHostServer> StartAsync(Uri vault, TokenCredential credential, SecretClientOptions options, LogCollector logs) =>
        await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
            [SettingNames.KeyVaultUri] = vault.ToString(),
            [SettingNames.KeyVaultSecretName] = "neotoma-token-key",
            [SettingNames.EncryptionKey] = null,
        }, services =>
        {
            services.AddSingleton(credential);
            services.AddSingleton(options);
            services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs);
        });

    [Fact]
    public async Task VaultUnreachable_HealthIs503NamingVaultSecretAndCredential_AndOAuthRefusesCleanly()
    {
        await using var vault = await FakeKeyVault.StartAsync();
        var logs = new LogCollector();
        var unreachable = new Uri("https://127.0.0.1:1/");
        await using var server = await StartAsync(unreachable, new StaticTokenCredential(FakeKeyVault.AccessToken), vault.ClientOptions(), logs);

        var health = await server.Client.GetAsync("/api/health");
        var register = await server.Client.PostAsync("/api/mcp/oauth/register",
            new StringContent("{\"redirect_uris\":[\"http://127.0.0.1:8787/cb\"]}", Encoding.UTF8, "application/json"));
        var clientId = JsonDocument.Parse(await register.Content.ReadAsStringAsync()).RootElement.GetProperty("client_id").GetString();
        var consent = await server.Client.GetAsync(
            $"/api/mcp/oauth/authorize?response_type=code&client_id={clientId}&code_challenge={new string('a', 43)}&code_challenge_method=S256");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        var reason = JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.GetProperty("reason").GetString();
        Assert.Contains("https://127.0.0.1:1/", reason);
        Assert.Contains("neotoma-token-key", reason);
        Assert.Contains(nameof(StaticTokenCredential), reason);
        Assert.Equal(HttpStatusCode.InternalServerError, consent.StatusCode);
        Assert.Contains("OAUTH_ENCRYPTION_KEY_MISSING", await consent.Content.ReadAsStringAsync());
        Assert.Contains(logs.Lines, line => line.Contains("OAUTH_ENCRYPTION_KEY_MISSING") && line.Contains("neotoma-token-key"));
    }

    [Fact]
    public async Task AccessDenied_SaysWhichRoleIsMissing()
    {
        await using var vault = await FakeKeyVault.StartAsync();
        vault.AddVersion("neotoma-token-key", KeyVaultFixture.FirstKey);
        var logs = new LogCollector();
        await using var server = await StartAsync(vault.Uri, new StaticTokenCredential(FakeKeyVault.DeniedToken), vault.ClientOptions(), logs);

        var health = await server.Client.GetAsync("/api/health");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Contains("Key Vault Secrets User", await health.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task InvalidKeyInTheVault_IsEncryptionKeyInvalid()
    {
        await using var vault = await FakeKeyVault.StartAsync();
        vault.AddVersion("neotoma-token-key", "not-hex");
        var logs = new LogCollector();
        await using var server = await StartAsync(vault.Uri, new StaticTokenCredential(FakeKeyVault.AccessToken), vault.ClientOptions(), logs);

        var health = await server.Client.GetAsync("/api/health");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Contains("OAUTH_ENCRYPTION_KEY_INVALID", await health.Content.ReadAsStringAsync());
    }
}
