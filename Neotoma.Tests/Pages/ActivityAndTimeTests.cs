using System.Reflection;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;
using Neotoma.Pages;

namespace Neotoma.Tests.Pages;

/// <summary>The connections page's activity list and times, as a person reads them (computed on the server, no script).</summary>
public sealed class ActivityAndTimeTests
{
    private static readonly DateTimeOffset Now = new(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0, "just now")]
    [InlineData(-59, "just now")]
    [InlineData(-60, "1 minute ago")]
    [InlineData(-180, "3 minutes ago")]
    [InlineData(-3600, "1 hour ago")]
    [InlineData(-5 * 3600, "5 hours ago")]
    [InlineData(-30 * 3600, "yesterday")]
    [InlineData(-3 * 86400, "3 days ago")]
    [InlineData(-90 * 86400, "3 months ago")]
    [InlineData(-800 * 86400, "2 years ago")]
    [InlineData(3600, "in 1 hour")]
    [InlineData(30 * 86400, "in 30 days")]
    [InlineData(90 * 86400, "in 3 months")]
    public void Relative_SaysHowLongAgoOrUntil(int seconds, string expected) =>
        Assert.Equal(expected, Times.Relative(Now.AddSeconds(seconds), Now));

    [Fact]
    public void Absolute_IsUtcWhateverTheOffset()
    {
        var at = new DateTimeOffset(2026, 5, 1, 14, 30, 59, TimeSpan.FromHours(2));

        Assert.Equal("2026-05-01 12:30 UTC", Times.Absolute(at));
        Assert.Equal("2026-05-01T12:30:59Z", Times.Machine(at));
    }

    /// <summary>Every audit event the server writes reads as a sentence, never as its raw name (a new event without one fails here).</summary>
    [Fact]
    public void EveryAuditEvent_HasASentence()
    {
        var events = typeof(AuditEvents).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).ToList();

        Assert.NotEmpty(events);
        Assert.All(events, name =>
        {
            var line = ActivityLines.Describe(View(name, clientId: "mcp_x", clientName: "Codex"));
            var text = line.Before + line.Name + line.After;
            Assert.DoesNotContain(name, text);
            Assert.DoesNotContain("_", text);
        });
    }

    [Theory]
    [InlineData(AuditEvents.CallbackSuccess, "mcp_x", "Codex", "", "Codex", " connected")]
    [InlineData(AuditEvents.ConnectionRevoked, "mcp_x", "Codex", "Connection of ", "Codex", " revoked")]
    [InlineData(AuditEvents.ConnectionRevoked, ConnectionsService.PersonalClientId, "Nightly script", "Personal token ", "Nightly script", " revoked")]
    [InlineData(AuditEvents.PersonalTokenCreated, ConnectionsService.PersonalClientId, "Nightly script", "Personal token ", "Nightly script", " created")]
    [InlineData(AuditEvents.CallbackSuccess, "mcp_x", null, "", ActivityLines.UnnamedClient, " connected")]
    [InlineData(AuditEvents.WebSignIn, null, null, "Signed in to this page", null, "")]
    [InlineData("some_future_event", null, null, "some_future_event", null, "")]
    public void Event_ReadsWithTheClientsName_NotItsId(string name, string? clientId, string? clientName, string before, string? shownName, string after) =>
        Assert.Equal(new ActivityLine(before, shownName, after), ActivityLines.Describe(View(name, clientId, clientName)));

    private static AuditView View(string name, string? clientId, string? clientName) =>
        new(Now, name, clientId, "127.0.0.1", Success: true, ErrorCode: null, clientName);
}
