using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.OAuth;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>Issue 25, "Users": identities keyed by (issuer, subject), mapped to the Neotoma user.</summary>
public sealed class IdentityTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private string ProviderIssuer => fixture.Provider.Issuer.ToString().TrimEnd('/');

    private async Task<string> UserOfConnectionAsync(OAuthFixture.RegisteredClient client) =>
        (await fixture.Database.AdminScalarAsync<string>("SELECT user_id FROM mcp_oauth_connections WHERE client_id = @c", ("c", client.ClientId)))!;

    [Fact]
    public async Task Callback_FirstSignIn_RecordsIssuerAndSubject_AndKeepsTheSubAsUserId()
    {
        var (client, code, _) = await fixture.AuthorizeAsync("ivy");

        Assert.False(string.IsNullOrEmpty(code));
        Assert.Equal("ivy", await UserOfConnectionAsync(client));
        Assert.Equal("ivy", await fixture.Database.AdminScalarAsync<string>(
            "SELECT user_id FROM mcp_oauth_identities WHERE rtrim(issuer, '/') = @issuer AND subject = 'ivy'", ("issuer", ProviderIssuer)));
    }

    [Fact]
    public async Task Callback_ResolvesTheUserThroughTheIdentityTable()
    {
        // A person already known under another user id (as one first met through an enterprise IdP would be).
        await fixture.Database.AdminExecuteAsync(
            "INSERT INTO mcp_oauth_identities (issuer, subject, user_id) VALUES (@issuer, 'jules', 'usr_jules_known')", ("issuer", ProviderIssuer));

        var (client, _, _) = await fixture.AuthorizeAsync("jules");

        Assert.Equal("usr_jules_known", await UserOfConnectionAsync(client));
    }

    [Fact]
    public async Task Identities_SameSubAtTwoIssuers_AreTwoPeople_AndTheUpstreamsOwnIsTheSub()
    {
        var identities = fixture.Server.Services.GetRequiredService<Identities>();

        var upstream = await identities.OfEnterpriseAsync(ProviderIssuer + "/", "kim", null, null, ProviderIssuer, CancellationToken.None);
        var other = await identities.OfEnterpriseAsync("https://idp.other.example", "kim", null, null, ProviderIssuer, CancellationToken.None);
        var again = await identities.OfEnterpriseAsync("https://idp.other.example", "kim", null, null, ProviderIssuer, CancellationToken.None);

        Assert.Equal("kim", upstream);
        Assert.StartsWith("usr_", other);
        Assert.Equal(other, again);
    }

    [Fact]
    public async Task Identities_EntraId_IsKeyedByTenantAndObjectId_NotByItsPerApplicationSub()
    {
        var identities = fixture.Server.Services.GetRequiredService<Identities>();
        const string entra = "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0";

        var first = await identities.OfEnterpriseAsync(entra, "sub-seen-by-app-a", "11111111-1111-1111-1111-111111111111", "oid-lee", ProviderIssuer,
            CancellationToken.None);
        var second = await identities.OfEnterpriseAsync(entra, "sub-seen-by-app-b", "11111111-1111-1111-1111-111111111111", "oid-lee", ProviderIssuer,
            CancellationToken.None);

        Assert.Equal(first, second);
        Assert.Equal("entra:11111111-1111-1111-1111-111111111111/oid-lee", Identities.SubjectKey(entra, "x", "11111111-1111-1111-1111-111111111111", "oid-lee"));
        // Elsewhere tid and oid are only claims like any other (a provider may let users set them): the sub keys the identity.
        Assert.Equal("sub-of-dev", Identities.SubjectKey(ProviderIssuer, "sub-of-dev", "11111111-1111-1111-1111-111111111111", "oid-lee"));
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_identities WHERE issuer = @issuer", ("issuer", entra)));
    }
}
