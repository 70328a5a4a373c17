using Microsoft.Extensions.Logging;

namespace Neotoma.Core.OAuth;

/// <summary>The log lines the troubleshooting guide quotes, word for word. No token, code, verifier or key ever goes in.</summary>
internal static partial class OAuthLog
{
    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "[MCP OAuth] Initiated OAuth flow for connection: {ConnectionId}")]
    public static partial void Initiated(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "[MCP OAuth] Connection created: {ConnectionId} for user: {UserId}")]
    public static partial void ConnectionCreated(ILogger logger, string connectionId, string userId);

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "[MCP OAuth] Refreshing access token for connection: {ConnectionId}")]
    public static partial void Refreshing(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 203, Level = LogLevel.Warning, Message = "[MCP OAuth] Invalid or expired state: {StatePrefix}…")]
    public static partial void InvalidState(ILogger logger, string statePrefix);

    [LoggerMessage(EventId = 207, Level = LogLevel.Warning, Message = "[ERROR] APIError:{Operation} {{ error: \"{ErrorCode}\" }}")]
    public static partial void ApiError(ILogger logger, string operation, string errorCode);

    [LoggerMessage(EventId = 208, Level = LogLevel.Warning,
        Message = "[MCP OAuth] Refresh token reused outside its grace window; revoked token family of connection: {ConnectionId}")]
    public static partial void RefreshReuse(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 209, Level = LogLevel.Information, Message = "[MCP OAuth] Registered MCP client {ClientId} ({ClientName})")]
    public static partial void ClientRegistered(ILogger logger, string clientId, string clientName);

    [LoggerMessage(EventId = 210, Level = LogLevel.Information, Message = "[MCP OAuth] Fetched client metadata document {ClientId} ({ClientName})")]
    public static partial void ClientMetadataDocumentFetched(ILogger logger, string clientId, string clientName);

    [LoggerMessage(EventId = 211, Level = LogLevel.Information, Message = "[MCP OAuth] Revoked connection: {ConnectionId} ({Reason})")]
    public static partial void ConnectionRevoked(ILogger logger, string connectionId, RevocationReason reason);

    [LoggerMessage(EventId = 212, Level = LogLevel.Information, Message = "[MCP OAuth] Remembered consent skipped the consent page for connection: {ConnectionId}")]
    public static partial void ConsentRemembered(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 213, Level = LogLevel.Warning, Message = "[MCP OAuth] Client authentication refused for {ClientId}: {ErrorCode} {Reason}")]
    public static partial void ClientAssertionRefused(ILogger logger, string clientId, OAuthErrorCode errorCode, string reason);

    [LoggerMessage(EventId = 214, Level = LogLevel.Information, Message = "[MCP OAuth] Fetched client keys {JwksUri} ({KeyCount} signing key(s), kept {LifetimeSeconds} s)")]
    public static partial void ClientJwksFetched(ILogger logger, string jwksUri, int keyCount, long lifetimeSeconds);

    [LoggerMessage(EventId = 215, Level = LogLevel.Information,
        Message = "[MCP OAuth] Enterprise access granted: client {ClientId} for user {UserId} by {IdpIssuer} ({Scope}), connection: {ConnectionId}")]
    public static partial void EnterpriseGranted(ILogger logger, string clientId, string userId, string idpIssuer, string scope, string connectionId);

    [LoggerMessage(EventId = 216, Level = LogLevel.Warning, Message = "[MCP OAuth] ID-JAG refused for client {ClientId}: {ErrorCode} {Reason}")]
    public static partial void IdJagRefused(ILogger logger, string clientId, OAuthErrorCode errorCode, string reason);

    [LoggerMessage(EventId = 217, Level = LogLevel.Information, Message = "[MCP OAuth] Read enterprise IdP {Issuer} ({KeyCount} signing key(s))")]
    public static partial void EnterpriseIdpRead(ILogger logger, string issuer, int keyCount);

    [LoggerMessage(EventId = 218, Level = LogLevel.Information, Message = "[MCP OAuth] Registered enterprise client {ClientId} ({ClientName}, {Method})")]
    public static partial void EnterpriseClientRegistered(ILogger logger, string clientId, string clientName, string method);
}
