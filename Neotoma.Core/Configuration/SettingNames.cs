namespace Neotoma.Core.Configuration;

/// <summary>
/// The names of every setting Neotoma reads. They are flat upper-case names because Azure
/// app settings, local.settings.json and shell environments all carry them unchanged, and
/// because the troubleshooting guide uses these exact names. docs/configuration.md explains each.
/// </summary>
public static class SettingNames
{
    public const string DatabaseConnectionString = "DATABASE_CONNECTION_STRING";
    public const string MigrateOnStartup = "DATABASE_MIGRATE_ON_STARTUP";

    /// <summary>"password" (in the connection string) or "entra": Microsoft Entra tokens of the app's managed identity.</summary>
    public const string DatabaseAuth = "DATABASE_AUTH";

    /// <summary>
    /// Seconds a request waits for a pooled database connection (default 2, 1-30) before it is answered
    /// 503 with Retry-After: an overloaded instance says so at once instead of queueing callers.
    /// </summary>
    public const string DatabasePoolWaitSeconds = "DATABASE_POOL_WAIT_SECONDS";

    /// <summary>The public base URL clients use; the OAuth issuer. Never derived from the request's Host.</summary>
    public const string ApiBase = "API_BASE";

    /// <summary>64 hex characters: the AES-256-GCM key for upstream refresh tokens at rest.</summary>
    public const string EncryptionKey = "MCP_TOKEN_ENCRYPTION_KEY";

    /// <summary>Comma-separated previous keys that still decrypt (local rotation without Key Vault).</summary>
    public const string PreviousEncryptionKeys = "MCP_TOKEN_ENCRYPTION_PREVIOUS_KEYS";

    /// <summary>When set, the encryption key comes from this Azure Key Vault (https://&lt;name&gt;.vault.azure.net/).</summary>
    public const string KeyVaultUri = "KEY_VAULT_URI";

    /// <summary>The vault secret holding the key; its earlier enabled versions still decrypt.</summary>
    public const string KeyVaultSecretName = "KEY_VAULT_SECRET_NAME";

    public const string UpstreamIssuer = "OIDC_ISSUER";
    public const string UpstreamPreset = "OIDC_PRESET";
    public const string UpstreamClientId = "OIDC_CLIENT_ID";
    public const string UpstreamClientSecret = "OIDC_CLIENT_SECRET";
    public const string UpstreamScopes = "OIDC_SCOPES";

    /// <summary>JSON: the organizations' identity providers trusted to grant access with an ID-JAG (docs/configuration.md).</summary>
    public const string EnterpriseIdps = "ENTERPRISE_IDPS";

    public const string RateLimitInitiate = "RATE_LIMIT_INITIATE_PER_MINUTE";
    public const string RateLimitCallback = "RATE_LIMIT_CALLBACK_PER_MINUTE";
    public const string RateLimitToken = "RATE_LIMIT_TOKEN_PER_MINUTE";
    public const string RateLimitRegister = "RATE_LIMIT_REGISTER_PER_MINUTE";
    public const string RateLimitJwtBearer = "RATE_LIMIT_JWT_BEARER_PER_MINUTE";
    public const string RateLimitRevoke = "RATE_LIMIT_REVOKE_PER_MINUTE";

    /// <summary>Seconds to wait for the upstream provider (default 5) before answering OAUTH_UPSTREAM_UNAVAILABLE.</summary>
    public const string UpstreamTimeoutSeconds = "OIDC_TIMEOUT_SECONDS";

    /// <summary>Days after which a dynamically registered client without a live connection is deleted.</summary>
    public const string ClientRetentionDays = "CLIENT_RETENTION_DAYS";

    /// <summary>
    /// The server's direct port, when DATABASE_CONNECTION_STRING goes through a transaction-mode pooler
    /// (PgBouncer): migrations (a session advisory lock) and the revocation listener (LISTEN) use it.
    /// Unset, they use DATABASE_CONNECTION_STRING.
    /// </summary>
    public const string DatabaseDirectConnectionString = "DATABASE_DIRECT_CONNECTION_STRING";

    /// <summary>Days audit rows are kept (default 90); older ones are deleted by the cleanup timer.</summary>
    public const string AuditRetentionDays = "AUDIT_RETENTION_DAYS";

    /// <summary>How many proxies in front of the app append to X-Forwarded-For (1 on Azure); 0 trusts no header.</summary>
    public const string TrustedProxyCount = "TRUSTED_PROXY_COUNT";

    /// <summary>Most days a personal access token lives (default 90); tokens issued for longer end that many days after they were made.</summary>
    public const string PersonalTokenMaxDays = "PERSONAL_TOKEN_MAX_DAYS";

    /// <summary>Seconds a validated access token is remembered per instance (default 5; 0 = look up every request).</summary>
    public const string AccessTokenCacheSeconds = "ACCESS_TOKEN_CACHE_SECONDS";

    /// <summary>Most entities one `store` call may write (default 100).</summary>
    public const string StoreMaxEntities = "STORE_MAX_ENTITIES";

    /// <summary>Largest /mcp request body in bytes (default 1 MiB); larger ones are refused before any tool runs.</summary>
    public const string McpMaxBodyBytes = "MCP_MAX_BODY_BYTES";

    /// <summary>Comma-separated browser origins allowed to call /mcp (besides API_BASE's own); others get 403.</summary>
    public const string McpAllowedOrigins = "MCP_ALLOWED_ORIGINS";

    /// <summary>The guide's name for the upstream client id with Supabase Auth; read when OIDC_CLIENT_ID is absent.</summary>
    public const string SupabaseClientId = "SUPABASE_OAUTH_CLIENT_ID";
}
