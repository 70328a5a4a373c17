using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Neotoma.Core.Configuration;
using Neotoma.Core.Maintenance;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Diagnostics;

public sealed record DoctorCheck(string Name, bool Ok, string Detail, string? Fix = null)
{
    public override string ToString() => Ok ? $"OK    {Name}: {Detail}" : $"FAIL  {Name}: {Detail}" + (Fix is null ? "" : $"\n      fix: {Fix}");
}

/// <summary>
/// The troubleshooting guide's Quick Diagnostics and Configuration Checklist as one command:
/// each check reads configuration or asks the running app, the provider or the database,
/// and says OK or FAIL with the guide's fix. Misconfiguration is reported, never thrown.
/// </summary>
public sealed class DoctorService(IConfiguration configuration, HttpClient http, TimeProvider timeProvider)
{
    public async Task<IReadOnlyList<DoctorCheck>> RunAsync(Uri? appUrl, CancellationToken cancellationToken)
    {
        var checks = new List<DoctorCheck>();
        var baseUrl = appUrl ?? (Uri.TryCreate(configuration[SettingNames.ApiBase], UriKind.Absolute, out var configured) ? configured : null);
        checks.Add(await ServerReachableAsync(baseUrl, cancellationToken));
        checks.Add(await DiscoveryAsync(baseUrl, cancellationToken));
        checks.Add(EncryptionKey());
        checks.Add(await UpstreamAsync(cancellationToken));
        var health = await HealthAsync(baseUrl, cancellationToken);
        var startedAt = health is { } report && report.TryGetProperty("started_at", out var started) && started.TryGetDateTimeOffset(out var at) ? at : (DateTimeOffset?)null;
        checks.AddRange(await DatabaseAsync(startedAt, cancellationToken));
        checks.Add(await RevocationChannelAsync(baseUrl, health, cancellationToken));
        return checks;
    }

    /// <summary>The running app's health report (whatever its status); null when it cannot be asked.</summary>
    private async Task<JsonElement?> HealthAsync(Uri? baseUrl, CancellationToken cancellationToken)
    {
        if (baseUrl is null)
        {
            return null;
        }

        try
        {
            using var response = await http.GetAsync(new Uri(baseUrl, "api/health"), cancellationToken);
            return await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException or InvalidOperationException)
        {
            return null;
        }
    }

    private string ProbeAge(JsonElement? health) =>
        health is { } report && report.TryGetProperty("revocation_probe_heard_at", out var heard) && heard.TryGetDateTimeOffset(out var at)
            ? $"{Math.Max(0, (int)(timeProvider.GetUtcNow() - at).TotalSeconds)} s ago"
            : "recently";

    /// <summary>
    /// Whether the app hears revocations, as its health report says. A listener proves itself within
    /// seconds of connecting, so a deaf report is asked again for a few seconds before it fails.
    /// </summary>
    private async Task<DoctorCheck> RevocationChannelAsync(Uri? baseUrl, JsonElement? health, CancellationToken cancellationToken)
    {
        const string name = "revocation channel";
        static string? Field(JsonElement? health, string field) =>
            health is { ValueKind: JsonValueKind.Object } report && report.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;

        for (var attempt = 0; attempt < 12 && Field(health, "revocation_channel") == RevocationChannelState.Deaf; attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), timeProvider, cancellationToken);
            health = await HealthAsync(baseUrl, cancellationToken) ?? health;
        }

        var reason = Field(health, "revocation_channel_reason");
        return Field(health, "revocation_channel") switch
        {
            RevocationChannelState.Hearing => new(name, true,
                $"hearing: the app heard its own probe {ProbeAge(health)}, so a revoked access token leaves its cache within milliseconds"),
            RevocationChannelState.Off => new(name, true, reason ?? "off"),
            RevocationChannelState.Deaf => new(name, false, $"deaf: {reason}; the app serves with its access-token cache off (every request asks the database)",
                "set DATABASE_DIRECT_CONNECTION_STRING to the server's direct port (5432), not the pooler (PgBouncer, 6432); otherwise check "
                + "that nothing between the app and PostgreSQL drops idle connections (network idle timeouts); the app logs event 260 or 262"),
            _ when health is null => new(name, false, "skipped: the app's /api/health could not be read", "start the server; check API_BASE or --url"),
            _ => new(name, false, "the app's /api/health does not report it (a build older than this doctor)", "deploy this build"),
        };
    }

    private async Task<DoctorCheck> ServerReachableAsync(Uri? baseUrl, CancellationToken cancellationToken)
    {
        const string name = "server reachable";
        if (baseUrl is null)
        {
            return new(name, false, "no URL: API_BASE is not set and no --url was given", "set API_BASE or pass --url http://localhost:8080");
        }

        var mcp = new Uri(baseUrl, "mcp");
        try
        {
            using var response = await http.PostAsync(mcp, new StringContent("{}"), cancellationToken);
            var status = (int)response.StatusCode;
            return status is 401 or 200
                ? new(name, true, $"{mcp} answers {status}")
                : new(name, false, $"{mcp} answers {status}, expected 401 (auth required) or 200", "check that this URL is Neotoma's /mcp");
        }
        catch (HttpRequestException e)
        {
            var https443 = mcp.Scheme == "https" && mcp.Port == 443 && (mcp.IsLoopback || mcp.Host == "localhost");
            return new(name, false, $"{mcp}: {(e.InnerException as SocketException)?.SocketErrorCode.ToString() ?? e.Message}",
                https443
                    ? "ECONNREFUSED 127.0.0.1:443: the local server listens on http://localhost:8080; use http://localhost:8080/mcp as the MCP URL"
                    : "start the server (./neotoma up) and use the URL it prints");
        }
        catch (TaskCanceledException)
        {
            return new(name, false, $"{mcp} did not answer in time", "check the server and the network path");
        }
    }

    private async Task<DoctorCheck> DiscoveryAsync(Uri? baseUrl, CancellationToken cancellationToken)
    {
        const string name = "discovery advertises registration";
        if (baseUrl is null)
        {
            return new(name, false, "skipped: no server URL", "set API_BASE or pass --url");
        }

        try
        {
            var metadata = await http.GetFromJsonAsync<JsonElement>(new Uri(baseUrl, ".well-known/oauth-authorization-server"), cancellationToken);
            var resource = await http.GetFromJsonAsync<JsonElement>(new Uri(baseUrl, ".well-known/oauth-protected-resource/mcp"), cancellationToken);
            var registration = metadata.TryGetProperty("registration_endpoint", out var r) ? r.GetString() : null;
            var issuer = metadata.TryGetProperty("issuer", out var i) ? i.GetString() : null;
            var servers = resource.TryGetProperty("authorization_servers", out var s) ? s.EnumerateArray().Select(e => e.GetString()).ToArray() : [];
            if (string.IsNullOrEmpty(registration))
            {
                return new(name, false, "/.well-known/oauth-authorization-server has no registration_endpoint (Cursor: \"does not support dynamic client registration\")",
                    "serve Neotoma's discovery document; registration is built in");
            }

            return servers.Contains(issuer)
                ? new(name, true, $"registration_endpoint {registration}; issuer {issuer} matches the protected resource metadata; {ClientIdentification(metadata)}")
                : new(name, false, $"issuer {issuer} is not in authorization_servers [{string.Join(", ", servers)}]", "API_BASE must be the exact public URL");
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException or InvalidOperationException)
        {
            return new(name, false, $"discovery could not be read: {e.Message}", "start the server; check API_BASE");
        }
    }

    /// <summary>What the metadata says clients may identify with, as the 2026-07-28 authorization spec's clients read it.</summary>
    private static string ClientIdentification(JsonElement metadata)
    {
        static bool Says(JsonElement metadata, string member) => metadata.TryGetProperty(member, out var value) && value.ValueKind == JsonValueKind.True;
        static string[] List(JsonElement metadata, string member) => metadata.TryGetProperty(member, out var value) && value.ValueKind == JsonValueKind.Array
            ? [.. value.EnumerateArray().Select(item => item.GetString() ?? "")]
            : [];
        var methods = List(metadata, "token_endpoint_auth_methods_supported");
        var privateKeyJwt = methods.Contains("private_key_jwt")
            ? $"private_key_jwt: advertised (signed {string.Join(", ", List(metadata, "token_endpoint_auth_signing_alg_values_supported"))}; "
                + $"revocation: {(List(metadata, "revocation_endpoint_auth_methods_supported").Contains("private_key_jwt") ? "advertised" : "NOT advertised")})"
            : "private_key_jwt: NOT advertised (confidential document clients such as ChatGPT are refused)";
        return $"iss in authorization responses: {(Says(metadata, "authorization_response_iss_parameter_supported") ? "advertised" : "NOT advertised")}; "
            + $"client ID metadata documents: {(Says(metadata, "client_id_metadata_document_supported") ? "advertised" : "NOT advertised")}; "
            + $"client authentication: {(methods.Length == 0 ? "none listed" : string.Join(", ", methods))}; {privateKeyJwt}; "
            + $"enterprise-managed authorization (ID-JAG): {(List(metadata, "authorization_grant_profiles_supported").Contains("urn:ietf:params:oauth:grant-profile:id-jag") ? "advertised" : "NOT advertised")}";
    }

    private DoctorCheck EncryptionKey()
    {
        const string name = "encryption key";
        if (configuration[SettingNames.KeyVaultUri] is { Length: > 0 } vault)
        {
            return new(name, true, $"from Key Vault {vault} (secret {configuration[SettingNames.KeyVaultSecretName] ?? "mcp-token-encryption-key"}); /api/health reports whether it loaded");
        }

        try
        {
            KeyRing.Parse(configuration[SettingNames.EncryptionKey], SettingNames.EncryptionKey);
            return new(name, true, $"{SettingNames.EncryptionKey} is 64 hex characters");
        }
        catch (OAuthException e)
        {
            return new(name, false, e.Message,
                "node -e \"console.log(require('crypto').randomBytes(32).toString('hex'))\" and set MCP_TOKEN_ENCRYPTION_KEY (changing it breaks existing connections unless the old key is kept in MCP_TOKEN_ENCRYPTION_PREVIOUS_KEYS)");
        }
    }

    private async Task<DoctorCheck> UpstreamAsync(CancellationToken cancellationToken)
    {
        const string name = "upstream OpenID provider";
        var issuer = configuration[SettingNames.UpstreamIssuer];
        if (string.IsNullOrWhiteSpace(issuer))
        {
            return new(name, false, "OIDC_ISSUER is not set", "set OIDC_ISSUER to the provider's issuer URL");
        }

        try
        {
            var document = await http.GetFromJsonAsync<JsonElement>(issuer.TrimEnd('/') + "/.well-known/openid-configuration", cancellationToken);
            var missing = new[] { "authorization_endpoint", "token_endpoint", "jwks_uri", "issuer" }
                .Where(field => !document.TryGetProperty(field, out _)).ToList();
            var clientId = configuration[SettingNames.UpstreamClientId] is { Length: > 0 } id ? id : configuration[SettingNames.SupabaseClientId];
            if (string.IsNullOrEmpty(clientId) && !document.TryGetProperty("registration_endpoint", out _))
            {
                return new(name, false, "no OIDC_CLIENT_ID and the provider advertises no registration_endpoint (OAUTH_CLIENT_REGISTRATION_FAILED)",
                    "set OIDC_CLIENT_ID (SUPABASE_OAUTH_CLIENT_ID) and OIDC_CLIENT_SECRET, or enable dynamic registration (Supabase: Allow Dynamic OAuth Apps)");
            }

            if (document.TryGetProperty("code_challenge_methods_supported", out var methods)
                && !methods.EnumerateArray().Any(m => m.GetString() == "S256"))
            {
                missing.Add("code_challenge_methods_supported: S256");
            }

            return missing.Count == 0
                ? new(name, true, $"{issuer} discovery has what Neotoma needs; client {(string.IsNullOrEmpty(clientId) ? "registered dynamically" : clientId)}")
                : new(name, false, $"{issuer} discovery lacks {string.Join(", ", missing)}", "use the provider's issuer URL (Entra: https://login.microsoftonline.com/<tenant>/v2.0)");
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException or InvalidOperationException or NotSupportedException)
        {
            return new(name, false, $"{issuer}/.well-known/openid-configuration could not be read: {e.Message}", "check OIDC_ISSUER and that the provider is reachable");
        }
    }

    private async Task<IReadOnlyList<DoctorCheck>> DatabaseAsync(DateTimeOffset? appStartedAt, CancellationToken cancellationToken)
    {
        var connectionString = configuration[SettingNames.DatabaseConnectionString];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return [new("database reachable", false, "DATABASE_CONNECTION_STRING is not set", "set it (./neotoma up sets it for the local cluster)")];
        }

        var options = new DatabaseOptions { ConnectionString = connectionString };
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 5 }.ConnectionString);
        string? version;
        try
        {
            version = await DatabaseMigrator.ReadAppliedVersionAsync(dataSource, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return [new("database reachable", false, $"{options.Describe()}: {MigrationHostedService.Describe(e)}", "start PostgreSQL (./neotoma up) or fix DATABASE_CONNECTION_STRING")];
        }

        var checks = new List<DoctorCheck> { new("database reachable", true, options.Describe()) };
        var expected = MigrationScripts.Neotoma.Latest;
        checks.Add(version == expected
            ? new("migrations applied", true, $"schema at {version}")
            : new("migrations applied", false, $"schema at {version ?? "(none)"}, this build needs {expected}", "./neotoma migrate"));
        if (version is null)
        {
            return checks;
        }

        await using (var rls = dataSource.CreateCommand(
            "SELECT string_agg(tablename, ', ' ORDER BY tablename) FILTER (WHERE NOT rowsecurity), count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schemaversions'"))
        await using (var reader = await rls.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            checks.Add(reader.IsDBNull(0)
                ? new("row-level security", true, $"on for all {reader.GetInt64(1)} tables")
                : new("row-level security", false, $"off for {reader.GetString(0)}", "ALTER TABLE <table> ENABLE ROW LEVEL SECURITY (the migrations set it; something turned it off)"));
        }

        var database = new NeotomaDatabase(dataSource);
        var (lastRun, oldStates) = await database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
            (await MaintenanceRunStore.LastRunAsync(transaction, StateCleanupService.JobName, cancellationToken),
             await AuthorizationStateStore.OlderThanAsync(transaction, TimeSpan.FromMinutes(10), cancellationToken)), cancellationToken);

        var now = timeProvider.GetUtcNow();
        var age = lastRun is null ? (TimeSpan?)null : now - lastRun.Value;
        // An app that started less than one schedule period (and a minute of grace) ago may not have run it yet.
        var up = appStartedAt is { } started ? now - started : (TimeSpan?)null;
        checks.Add(age is { } ran && ran <= TimeSpan.FromMinutes(10)
            ? new("state cleanup running", true, $"last run {(int)ran.TotalSeconds} s ago (every 5 minutes)")
            : up is { } running && running <= TimeSpan.FromMinutes(6) && (lastRun is null || lastRun < appStartedAt)
            ? new("state cleanup running", true, $"the app started {(int)running.TotalSeconds} s ago; its first run comes within 5 minutes of the start")
            : new("state cleanup running", false, lastRun is null ? "no cleanup run recorded" : $"last run {(int)age!.Value.TotalMinutes} minutes ago",
                "the StateCleanup timer runs every 5 minutes: check the app runs (under func start, AzureWebJobsStorage must reach Azurite)"));
        checks.Add(oldStates == 0
            ? new("no stale OAuth states", true, "no state older than 10 minutes")
            : new("no stale OAuth states", false, $"{oldStates} state(s) older than 10 minutes", "the cleanup job is not running; see the check above"));
        return checks;
    }
}
