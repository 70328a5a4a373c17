using Neotoma.Core.OAuth;
using Neotoma.Core.Web;

namespace Neotoma.Pages;

/// <summary>
/// One line of the activity list as a sentence: <see cref="Before"/>, the client's or token's name
/// (when the event has one; shown isolated and encoded, never joined into the text), <see cref="After"/>.
/// </summary>
public sealed record ActivityLine(string Before, string? Name, string After);

/// <summary>The audit trail's event names (<see cref="AuditEvents"/>) as what happened, in a person's words.</summary>
public static class ActivityLines
{
    public const string UnnamedClient = "An unnamed client";

    public static ActivityLine Describe(AuditView entry)
    {
        var personal = entry.ClientId == ConnectionsService.PersonalClientId;
        var name = entry.ClientName ?? (personal ? "(unnamed)" : UnnamedClient);
        return entry.Event switch
        {
            AuditEvents.CallbackSuccess => new("", name, " connected"),
            AuditEvents.ConsentRemembered => new("", name, " connected again (remembered approval, one click on Continue)"),
            AuditEvents.FlowInitiated => new("", name, " started connecting"),
            AuditEvents.CallbackFailed => new("", name, " could not connect"),
            AuditEvents.TokenRefreshInitiated => new("", name, " renewed its access"),
            AuditEvents.TokenRefreshFailed => new("", name, " could not renew its access"),
            AuditEvents.ConnectionRevoked when personal => new("Personal token ", name, " revoked"),
            AuditEvents.ConnectionRevoked => new("Connection of ", name, " revoked"),
            AuditEvents.PersonalTokenCreated => new("Personal token ", name, " created"),
            AuditEvents.WebSignIn => new("Signed in to this page", null, ""),
            AuditEvents.SignedOutEverywhere => new("Signed out everywhere", null, ""),
            AuditEvents.RevokedEverything => new("Revoked everything: every connection, personal token, remembered approval and session", null, ""),
            AuditEvents.EnterpriseAccessGranted => new("", name, " was granted access by your organization's identity provider"),
            AuditEvents.EnterpriseAccessRefused => new("", name, " was refused access from your organization's identity provider"),
            AuditEvents.EnterpriseAccessBlocked => new("", name, " is blocked: your organization's identity provider can no longer grant it access"),
            AuditEvents.EnterpriseAccessAllowed => new("", name, " may be granted access by your organization's identity provider again"),
            AuditEvents.ProviderEndedSignIn => new("Your identity provider ended a sign-in; its sessions ended and what it made was revoked", null, ""),
            _ => new(entry.Event, null, ""),
        };
    }
}
