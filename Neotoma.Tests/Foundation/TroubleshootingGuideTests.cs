using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

/// <summary>Every error code a person can meet is explained in README's troubleshooting guide, which the pages point to.</summary>
public sealed class TroubleshootingGuideTests
{
    /// <summary>
    /// A code named after its RFC error (OAUTH_INVALID_GRANT is invalid_grant) is explained by that RFC; every
    /// other code is Neotoma's own and needs its entry in the guide.
    /// </summary>
    [Fact]
    public void EveryCodeOfOurOwn_HasAnEntryInTheGuide()
    {
        var readme = File.ReadAllText(Path.Combine(DevIdentityProvider.RepositoryRoot(), "README.md"));
        var guide = readme[readme.IndexOf("## Troubleshooting", StringComparison.Ordinal)..];

        var missing = Enum.GetValues<OAuthErrorCode>()
            .Where(code => code.ToString() != "OAUTH_" + OAuthErrors.Describe(code).Error.ToUpperInvariant())
            .Where(code => !guide.Contains($"`{code}`", StringComparison.Ordinal))
            .ToList();

        Assert.True(missing.Count == 0, "not in README's troubleshooting guide: " + string.Join(", ", missing));
    }
}
