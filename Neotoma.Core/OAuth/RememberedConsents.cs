using Neotoma.Core.Storage;

namespace Neotoma.Core.OAuth;

/// <summary>
/// A person's approvals of a client, redirect URI and scope. Consent stays mandatory per person:
/// an approval is remembered only once the browser that gave it finished signing in (so the
/// approver is the person), and it covers only the same client and redirect URI with no wider
/// scope. Approvals of one client and redirect URI accumulate: approving write later adds to read.
/// </summary>
public sealed class RememberedConsents(NeotomaDatabase database, TimeProvider timeProvider)
{
    public Task RememberAsync(string userId, string clientId, string redirectUri, string scope, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            var earlier = await ConsentStore.LockScopeAsync(transaction, userId, clientId, redirectUri, cancellationToken);
            await ConsentStore.SaveAsync(transaction, userId, clientId, redirectUri,
                earlier is null ? NeotomaScopes.Normalize(scope) : NeotomaScopes.Union(earlier, scope), timeProvider.GetUtcNow(), cancellationToken);
        }, cancellationToken);

    /// <summary>Whether this person already approved this client, redirect URI and at least this scope.</summary>
    public async Task<bool> CoversAsync(string userId, AuthorizationRequest request, CancellationToken cancellationToken) =>
        await ConsentStore.ScopeAsync(database, userId, request.Client.ClientId, request.RedirectUri, cancellationToken) is { } approved
        && NeotomaScopes.IsWithin(request.Scope, approved);
}
