using Neotoma.Core.Configuration;
using Neotoma.Core.OAuth;
using Neotoma.Functions.SelfHost;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

/// <summary>A missing or malformed setting stops the app at start-up and names itself.</summary>
public sealed class StartupConfigurationTests
{
    private static readonly Dictionary<string, string?> Valid = new()
    {
        [SettingNames.DatabaseConnectionString] = "Host=127.0.0.1;Port=1;Database=x;Username=y;Password=z",
        [SettingNames.ApiBase] = "http://localhost:8080",
        [SettingNames.EncryptionKey] = SelfHostServer.TestEncryptionKey,
        [SettingNames.UpstreamIssuer] = "http://127.0.0.1:9",
    };

    private static Exception Build(string setting, string? value)
    {
        var settings = new Dictionary<string, string?>(Valid) { [setting] = value };
        return Record.Exception(() => SelfHostApplication.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration.Sources.Clear();
            Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(builder.Configuration, settings);
        }))!;
    }

    [Theory]
    [InlineData(SettingNames.ApiBase)]
    [InlineData(SettingNames.DatabaseConnectionString)]
    [InlineData(SettingNames.UpstreamIssuer)]
    public void MissingRequiredSetting_IsNamed(string setting)
    {
        var e = Assert.IsType<NeotomaConfigurationException>(Build(setting, null));

        Assert.Equal(setting, e.Setting);
        Assert.Contains(setting, e.Message);
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("ftp://neotoma.example.com")]
    [InlineData("https://neotoma.example.com/?x=1")]
    [InlineData("https://example.com/neotoma")]
    public void MalformedApiBase_IsNamed(string value)
    {
        var e = Assert.IsType<NeotomaConfigurationException>(Build(SettingNames.ApiBase, value));

        Assert.Equal(SettingNames.ApiBase, e.Setting);
    }

    [Fact]
    public void ApiBaseWithTrailingSlash_GivesAnIssuerWithout()
    {
        Assert.Equal("https://neotoma.example.com", OAuthServerOptions.NormalizeApiBase("https://neotoma.example.com/", SettingNames.ApiBase));
        Assert.Equal("http://localhost:8080", OAuthServerOptions.NormalizeApiBase("http://localhost:8080", SettingNames.ApiBase));
    }

    [Theory]
    [InlineData(null, OAuthErrorCode.OAUTH_ENCRYPTION_KEY_MISSING)]
    [InlineData("abc123", OAuthErrorCode.OAUTH_ENCRYPTION_KEY_INVALID)]
    public void EncryptionKeyProblems_StopStartupWithTheGuidesCode(string? key, OAuthErrorCode code)
    {
        var e = Assert.IsType<OAuthException>(Build(SettingNames.EncryptionKey, key));

        Assert.Equal(code, e.Code);
    }

    [Fact]
    public void UnknownPreset_IsNamed()
    {
        var e = Assert.IsType<NeotomaConfigurationException>(Build(SettingNames.UpstreamPreset, "okta-ish"));

        Assert.Equal(SettingNames.UpstreamPreset, e.Setting);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("3651")]
    [InlineData("99999999")]
    public void PersonalTokenMaxDaysOutOfRange_IsNamed(string value)
    {
        var e = Assert.IsType<NeotomaConfigurationException>(Build(SettingNames.PersonalTokenMaxDays, value));

        Assert.Equal(SettingNames.PersonalTokenMaxDays, e.Setting);
        Assert.Contains("1 to 3650", e.Message);
    }
}
