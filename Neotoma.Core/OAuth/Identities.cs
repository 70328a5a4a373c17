using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Which Neotoma user a person is, from how an identity provider names them: (issuer, subject), never the
/// subject alone, so the same sub at two providers is two people, and one person reached through the
/// interactive upstream and through that provider's ID-JAG is one user. For Entra ID (a token of its issuers with
/// <c>tid</c> and <c>oid</c>) the subject is "entra:tid/oid": Entra's <c>sub</c> is pairwise per application, so
/// the sub Neotoma's own sign-in sees and the one in an ID-JAG would differ for one person.
/// </summary>
public sealed class Identities(NeotomaDatabase database, TimeProvider timeProvider)
{
    /// <summary>
    /// The subject an identity is keyed by: for Entra ID's issuers with both claims, "entra:tid/oid" (a form no
    /// sub takes, and only where Entra vouches for tid and oid: another provider may let users set such
    /// claims); else its sub.
    /// </summary>
    public static string SubjectKey(string issuer, string sub, string? tenantId, string? objectId) =>
        tenantId is { Length: > 0 } && objectId is { Length: > 0 } && Uri.TryCreate(issuer, UriKind.Absolute, out var uri) && EnterpriseIdpOptions.IsEntra(uri)
            ? $"entra:{tenantId}/{objectId}"
            : sub;

    /// <summary>Issuers compared as providers write them, give or take a trailing slash.</summary>
    public static bool SameIssuer(string a, string b) => string.Equals(a.TrimEnd('/'), b.TrimEnd('/'), StringComparison.Ordinal);

    /// <summary>
    /// The user id of a person signed in through the interactive upstream. Met for the first time it is the
    /// token's sub, as it was before identities had a table of their own: every row a person made before
    /// stays theirs, with no user id rewritten anywhere.
    /// </summary>
    public Task<string> OfUpstreamAsync(string issuer, string sub, string? tenantId, string? objectId, CancellationToken cancellationToken) =>
        IdentityStore.ResolveAsync(database, issuer, SubjectKey(issuer, sub, tenantId, objectId), sub, timeProvider.GetUtcNow(), cancellationToken);

    /// <summary>
    /// The user id of a person an enterprise IdP vouches for. A person met for the first time gets the sub
    /// when the IdP is also the interactive upstream (the rule above, so whichever way they come first they
    /// are one user), else a new id of Neotoma's own: a sub is only unique at its issuer.
    /// </summary>
    public Task<string> OfEnterpriseAsync(
        string issuer, string sub, string? tenantId, string? objectId, string upstreamIssuer, CancellationToken cancellationToken) =>
        IdentityStore.ResolveAsync(database, issuer, SubjectKey(issuer, sub, tenantId, objectId),
            SameIssuer(issuer, upstreamIssuer) ? sub : "usr_" + OpaqueToken.New(16), timeProvider.GetUtcNow(), cancellationToken);
}
