using System.Net;
using System.Text.Json;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// OAuth 2.1 §4.3.1 refresh-token rotation under real parallel requests against PostgreSQL: when
/// reuse is detected, no token of that sign-in may survive, including the ones issued to the
/// requests that raced it, and no number of racers may turn into a 500 (deadlocks included).
/// </summary>
public sealed class RefreshReuseRaceTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private const int Trials = 20;

    [Fact]
    public async Task ParallelReuse_OfOneRefreshToken_LeavesNoLiveToken_InEveryTrial()
    {
        var survivors = new List<string>();
        var reuseDetected = 0;
        for (var trial = 0; trial < Trials; trial++)
        {
            var (tokens, client) = await fixture.SignInAsync($"race-{trial}");
            var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => RefreshAsync(client.ClientId, tokens.RefreshToken)));

            Assert.All(answers, a => Assert.True(a.Status is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{a.Status}: {a.Body}"));
            if (answers.Any(a => a.Body.Contains("every token of this sign-in is now revoked")))
            {
                reuseDetected++;
            }

            // Every pair any racer received, and the original, must be dead now.
            foreach (var issued in answers.Where(a => a.Status == HttpStatusCode.OK).Select(a => JsonDocument.Parse(a.Body).RootElement))
            {
                if ((await fixture.SendMcpAsync(issued.GetProperty("access_token").GetString())).StatusCode == HttpStatusCode.OK)
                {
                    survivors.Add($"trial {trial}: access token");
                }

                if ((await RefreshAsync(client.ClientId, issued.GetProperty("refresh_token").GetString()!)).Status == HttpStatusCode.OK)
                {
                    survivors.Add($"trial {trial}: refresh token");
                }
            }

            if ((await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode == HttpStatusCode.OK)
            {
                survivors.Add($"trial {trial}: the original access token");
            }
        }

        Assert.Equal(Trials, reuseDetected);
        Assert.Empty(survivors);
    }

    [Fact]
    public async Task FiftyParallelUses_AreAnsweredWithoutAServerError()
    {
        var (tokens, client) = await fixture.SignInAsync("race-fifty");

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => RefreshAsync(client.ClientId, tokens.RefreshToken)));

        Assert.All(answers, a => Assert.True(a.Status is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{a.Status}: {a.Body}"));
        Assert.True(await fixture.Database.AdminScalarAsync<bool>("""
            SELECT bool_and(revoked_at IS NOT NULL) FROM mcp_oauth_tokens
            WHERE connection_id = (SELECT connection_id FROM mcp_oauth_tokens WHERE token_hash = @h)
            """, ("h", Neotoma.Core.Security.OpaqueToken.Hash(tokens.RefreshToken))));
    }

    [Fact]
    public async Task ParallelReplays_OfOneCode_IssueAtMostOnePair_AndItDies()
    {
        var (client, code, verifier) = await fixture.AuthorizeAsync("race-code");
        var form = OAuthFixture.CodeRedemption(client, code, verifier);

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            var response = await fixture.TokenRequestAsync(form);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.All(answers, a => Assert.True(a.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{a.StatusCode}: {a.Body}"));
        var issued = answers.Where(a => a.StatusCode == HttpStatusCode.OK).ToArray();
        Assert.True(issued.Length <= 1);
        foreach (var pair in issued)
        {
            var access = JsonDocument.Parse(pair.Body).RootElement.GetProperty("access_token").GetString();
            Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(access)).StatusCode);
        }
    }

    private async Task<(HttpStatusCode Status, string Body)> RefreshAsync(string clientId, string refreshToken)
    {
        var response = await fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = refreshToken, ["client_id"] = clientId,
        });
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
