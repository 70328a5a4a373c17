using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Core.Web;

/// <summary>One live connection as its person sees it; <see cref="IdpIssuer"/>: the organization's IdP that granted it (origin enterprise).</summary>
/// <param name="ApplicationType">What the client said it is (<c>native</c>, <c>web</c>), or null when it did not say.</param>
/// <param name="SignsRequests">Whether the client proves itself with a signed key (<c>private_key_jwt</c>), not by PKCE alone.</param>
public sealed record ConnectionView(
    string ConnectionId, string? ClientId, string? ClientName, string? RedirectUri, string? Scope, string Origin,
    DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? ExpiresAt, string? IdpIssuer = null, string? ApplicationType = null,
    bool SignsRequests = false)
{
    /// <summary>Who vouches for <see cref="ClientName"/>: see <see cref="ClientRecord.DocumentHostOf"/>.</summary>
    public string? DocumentHost => ClientRecord.DocumentHostOf(ClientId);
}

/// <summary>
/// One audit event of the person, with the name of the client or personal token it concerns: that
/// connection's, or (for an event without one) the latest the person's connections gave that client.
/// </summary>
public sealed record AuditView(DateTimeOffset At, string Event, string? ClientId, string? ClientIp, bool Success, string? ErrorCode, string? ClientName = null);

/// <summary>A client whose enterprise-granted access the person revoked (blocked until they allow it again).</summary>
public sealed record BlockedClientView(string ClientId, string? ClientName, DateTimeOffset BlockedAt);

public sealed record ConsentView(string ClientId, string? ClientName, string RedirectUri, string Scope, DateTimeOffset ApprovedAt)
{
    /// <summary>Who vouches for <see cref="ClientName"/>: see <see cref="ClientRecord.DocumentHostOf"/>.</summary>
    public string? DocumentHost => ClientRecord.DocumentHostOf(ClientId);
}

/// <summary>A personal access token, shown to its person once.</summary>
public sealed record PersonalToken(string ConnectionId, string Token, string Scope, DateTimeOffset ExpiresAt);

/// <summary>
/// What the connections page reads and changes for the signed-in person. Reads run as that person
/// (<see cref="DbScope.ForUser"/>: row-level security shows their rows only); changes run as the
/// authorization server and name the person in every WHERE, and revocation goes through
/// <see cref="TokenRevocation"/> like every other.
/// </summary>
public sealed class ConnectionsService(
    NeotomaDatabase database,
    TokenRevocation revocation,
    TokenIssuer issuer,
    BrowserSignIns signIns,
    AuditLog audit,
    OAuthServerOptions options,
    TimeProvider timeProvider)
{
    public const string PersonalClientId = "personal";
    /// <summary>Most days a personal token may be made for (PERSONAL_TOKEN_MAX_DAYS).</summary>
    public int MaxPersonalTokenDays => (int)options.PersonalTokenMaxLifetime.TotalDays;
    public const int AuditRows = 50;

    public async Task<List<ConnectionView>> ListAsync(string userId, CancellationToken cancellationToken)
    {
        var rows = await GrantStore.ListAsync(database, userId, options.PersonalTokenMaxLifetime, cancellationToken);
        // Read as the authorization server: clients are not a person's rows, so the person's own scope cannot see them.
        var clients = await ClientStore.DescribeAsync(database, rows.Select(row => row.ClientId).OfType<string>().Distinct().ToList(), cancellationToken);
        return rows.Select(row =>
        {
            var client = row.ClientId is { } id && clients.TryGetValue(id, out var found) ? found : default;
            return new ConnectionView(row.ConnectionId, row.ClientId, row.ClientName, row.RedirectUri, row.Scope, row.Origin,
                row.CreatedAt, row.LastUsedAt, row.ExpiresAt, row.IdpIssuer, client.ApplicationType, client.AuthMethod == "private_key_jwt");
        }).ToList();
    }

    /// <summary>The clients whose enterprise-granted access the person revoked, newest first, with their names.</summary>
    public async Task<List<BlockedClientView>> BlockedAsync(string userId, CancellationToken cancellationToken)
    {
        var blocked = new List<BlockedClientView>();
        foreach (var (clientId, at) in await EnterpriseBlockStore.ListAsync(database, userId, cancellationToken))
        {
            blocked.Add(new BlockedClientView(clientId, await ClientStore.NameOfAsync(database, clientId, cancellationToken), at));
        }

        return blocked;
    }

    /// <summary>The person allows a client they blocked to be granted access by their organization's IdP again.</summary>
    public async Task<bool> AllowEnterpriseAsync(string userId, string clientId, string? clientIp, CancellationToken cancellationToken)
    {
        if (!await EnterpriseBlockStore.AllowAsync(database, userId, clientId, cancellationToken))
        {
            return false;
        }

        await audit.WriteAsync(new AuditEntry(AuditEvents.EnterpriseAccessAllowed, UserId: userId, ClientId: clientId, ClientIp: clientIp), cancellationToken);
        return true;
    }

    public async Task<List<AuditView>> AuditAsync(string userId, CancellationToken cancellationToken) =>
        (await AuditStore.LatestAsync(database, userId, AuditRows, cancellationToken))
            .Select(row => new AuditView(row.At, row.Event, row.ClientId, row.ClientIp, row.Success, row.ErrorCode, row.ClientName))
            .ToList();

    public async Task<List<ConsentView>> ConsentsAsync(string userId, CancellationToken cancellationToken) =>
        (await ConsentStore.ListAsync(database, userId, cancellationToken))
            .Select(row => new ConsentView(row.ClientId, row.ClientName, row.RedirectUri, row.Scope, row.ApprovedAt))
            .ToList();

    /// <summary>
    /// Revokes one of the person's connections through <see cref="TokenRevocation"/> (the connection, all
    /// its tokens, its upstream tokens, revoked at the provider where it offers revocation) and forgets
    /// the person's remembered approvals of that client. False when the person has no such live connection.
    /// </summary>
    public Task<bool> RevokeAsync(string userId, string connectionId, string? clientIp, CancellationToken cancellationToken) =>
        RevokeAsync(userId, connectionId, RevocationReason.RevokedByPerson, clientIp, cancellationToken);

    private async Task<bool> RevokeAsync(string userId, string connectionId, RevocationReason reason, string? clientIp, CancellationToken cancellationToken)
    {
        var clientId = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            var locked = await TokenRevocation.LockConnectionAsync(connection, transaction, connectionId, cancellationToken);
            if (locked is null || locked.Revoked || locked.UserId != userId)
            {
                return (Found: false, ClientId: (string?)null, Blocked: false);
            }

            await revocation.RevokeConnectionAsync(connection, transaction, connectionId, reason, cancellationToken);
            if (locked.Origin == "enterprise" && locked.ClientId is { } enterpriseClient)
            {
                // The client could fetch a fresh ID-JAG at once: revoked means blocked, until the person allows it again.
                await EnterpriseBlockStore.BlockAsync(transaction, userId, enterpriseClient, timeProvider.GetUtcNow(), cancellationToken);
            }

            if (locked.ClientId is { } clientId)
            {
                // Revoked means revoked: the client must ask the person again, not come back through a remembered approval.
                await ConsentStore.ForgetAsync(transaction, userId, clientId, redirectUri: null, cancellationToken);
            }

            return (Found: true, locked.ClientId, Blocked: locked.Origin == "enterprise");
        }, cancellationToken);

        if (!clientId.Found)
        {
            return false;
        }

        await audit.WriteAsync(new AuditEntry(AuditEvents.ConnectionRevoked, connectionId, userId, clientId.ClientId, clientIp), cancellationToken);
        if (clientId.Blocked)
        {
            await audit.WriteAsync(new AuditEntry(AuditEvents.EnterpriseAccessBlocked, connectionId, userId, clientId.ClientId, clientIp), cancellationToken);
        }

        return true;
    }

    /// <summary>
    /// Revoke all: every live connection and personal token of the person, each through
    /// <see cref="RevokeAsync"/> (upstream tokens revoked at the provider too), every remembered
    /// approval, and every browser sign-in (with its sessions; its provider tokens revoked there).
    /// How many connections ended. The caller ends the person's web sessions first.
    /// </summary>
    public async Task<int> RevokeAllAsync(string userId, string? clientIp, CancellationToken cancellationToken)
    {
        // Approvals first, so no Continue succeeds while the connections are being revoked.
        await database.InTransactionAsync(DbScope.OAuth, (_, transaction) =>
            ConsentStore.ForgetAsync(transaction, userId, clientId: null, redirectUri: null, cancellationToken), cancellationToken);

        // Pending connections too: a code issued a moment ago must not outlive Revoke all.
        var live = await GrantStore.LiveOfAsync(database, userId, cancellationToken);
        var revoked = 0;
        foreach (var connectionId in live)
        {
            revoked += await RevokeAsync(userId, connectionId, RevocationReason.RevokedEverything, clientIp, cancellationToken) ? 1 : 0;
        }

        await signIns.EndAllAsync(userId, cancellationToken);

        await audit.WriteAsync(new AuditEntry(AuditEvents.RevokedEverything, UserId: userId, ClientIp: clientIp), cancellationToken);
        return revoked;
    }

    /// <summary>
    /// Creates a connection with one access token for a client that takes only a header, bound to the
    /// session's sign-in: it ends when that sign-in ends (the provider says no), and never outlives a
    /// sign-in that has an absolute end.
    /// </summary>
    public async Task<PersonalToken> CreatePersonalTokenAsync(
        WebSession session, string name, bool readOnly, int days, string? clientIp, CancellationToken cancellationToken)
    {
        var userId = session.UserId;
        name = name.Trim();
        if (name.Length is 0 or > ClientRegistrationService.MaxClientNameLength || !DisplayText.IsShowable(name))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST,
                $"Give the token a name of 1 to {ClientRegistrationService.MaxClientNameLength} characters.");
        }

        if (days < 1 || days > MaxPersonalTokenDays)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, $"A personal token lives 1 to {MaxPersonalTokenDays} days.");
        }

        var connectionId = "pat_" + OpaqueToken.New(16);
        var scope = readOnly ? NeotomaScopes.Read : NeotomaScopes.Default;
        var now = timeProvider.GetUtcNow();
        var expires = now.AddDays(days);
        var token = await database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            if (await BrowserSignIns.HoldAsync(transaction, session.SignInId, cancellationToken) is { } signInEnds && signInEnds < expires)
            {
                expires = signInEnds;
            }

            // No upstream tokens and no refresh token: nothing is ever refreshed for it, it simply expires.
            if (!await GrantStore.CreateAsync(transaction, new NewConnection(connectionId, userId, now, ClientName: name, Scope: scope,
                    SignInId: session.SignInId, Personal: true, ExpiresAt: expires), cancellationToken))
            {
                throw new InvalidOperationException("A fresh random connection id was taken: the random source is broken.");
            }

            return await issuer.IssuePersonalAsync(transaction, connectionId, PersonalClientId, userId, scope, expires, cancellationToken);
        }, cancellationToken);

        await audit.WriteAsync(new AuditEntry(AuditEvents.PersonalTokenCreated, connectionId, userId, PersonalClientId, clientIp), cancellationToken);
        return new PersonalToken(connectionId, token, scope, expires);
    }

    /// <summary>Forgets an approval: the next authorization of that client and redirect URI shows the consent page again.</summary>
    public Task<bool> ForgetConsentAsync(string userId, string clientId, string redirectUri, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
            await ConsentStore.ForgetAsync(transaction, userId, clientId, redirectUri, cancellationToken) > 0, cancellationToken);
}
