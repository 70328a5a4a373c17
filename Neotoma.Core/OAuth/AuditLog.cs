using System.Text.Json;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.OAuth;

public static class AuditEvents
{
    public const string FlowInitiated = "oauth_flow_initiated";
    public const string CallbackSuccess = "oauth_callback_success";
    public const string CallbackFailed = "oauth_callback_failed";
    public const string TokenRefreshInitiated = "token_refresh_initiated";
    public const string TokenRefreshFailed = "token_refresh_failed";
    public const string ConnectionRevoked = "connection_revoked";
    public const string PersonalTokenCreated = "personal_token_created";
    public const string ConsentRemembered = "consent_remembered";
    public const string WebSignIn = "web_sign_in";
    public const string SignedOutEverywhere = "web_signed_out_everywhere";
    public const string RevokedEverything = "revoked_everything";
    public const string ProviderEndedSignIn = "provider_ended_sign_in";
    public const string EnterpriseAccessGranted = "enterprise_access_granted";
    public const string EnterpriseAccessRefused = "enterprise_access_refused";
    public const string EnterpriseAccessBlocked = "enterprise_access_blocked";
    public const string EnterpriseAccessAllowed = "enterprise_access_allowed";
}

public sealed record AuditEntry(
    string Event,
    string? ConnectionId = null,
    string? UserId = null,
    string? ClientId = null,
    string? ClientIp = null,
    bool Success = true,
    OAuthErrorCode? ErrorCode = null);

/// <summary>
/// The guide's audit trail: a structured log line <c>[MCP OAuth Audit] event {...}</c> and a
/// row in <c>mcp_oauth_audit</c>. Writing it never fails the flow it describes.
/// </summary>
public sealed partial class AuditLog(NeotomaDatabase database, ILogger<AuditLog> logger)
{
    public async Task WriteAsync(AuditEntry entry, CancellationToken cancellationToken)
    {
        var fields = JsonSerializer.Serialize(new
        {
            connectionId = entry.ConnectionId,
            userId = entry.UserId,
            clientId = entry.ClientId,
            clientIp = entry.ClientIp,
            success = entry.Success,
            error_code = entry.ErrorCode?.ToString(),
        });
        if (entry.Success)
        {
            AuditSucceeded(logger, entry.Event, fields);
        }
        else
        {
            AuditFailed(logger, entry.Event, fields);
        }

        try
        {
            await AuditStore.AppendAsync(database, new AuditRow(entry.Event, entry.ConnectionId, entry.UserId, entry.ClientId, entry.ClientIp, entry.Success,
                entry.ErrorCode?.ToString()), CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            AuditWriteFailed(logger, entry.Event, e.Message);
        }
    }

    [LoggerMessage(EventId = 250, Level = LogLevel.Information, Message = "[MCP OAuth Audit] {Event} {Fields}")]
    private static partial void AuditSucceeded(ILogger logger, string @event, string fields);

    [LoggerMessage(EventId = 251, Level = LogLevel.Warning, Message = "[MCP OAuth Audit] {Event} FAILED {Fields}")]
    private static partial void AuditFailed(ILogger logger, string @event, string fields);

    [LoggerMessage(EventId = 252, Level = LogLevel.Warning, Message = "[MCP OAuth] Failed to write audit event {Event}: {Reason}")]
    private static partial void AuditWriteFailed(ILogger logger, string @event, string reason);
}
