using Neotoma.Core.Configuration;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

/// <summary>The Azure deployment sets every setting the app needs there; local.settings.example.json names every one.</summary>
public sealed class DeploymentSettingsTests
{
    private static string Read(string path) => File.ReadAllText(Path.Combine(DevIdentityProvider.RepositoryRoot(), path));

    [Theory]
    [InlineData(SettingNames.DatabaseConnectionString)]
    [InlineData(SettingNames.DatabaseAuth)]
    [InlineData(SettingNames.ApiBase)]
    [InlineData(SettingNames.KeyVaultUri)]
    [InlineData(SettingNames.KeyVaultSecretName)]
    [InlineData(SettingNames.UpstreamIssuer)]
    [InlineData(SettingNames.UpstreamPreset)]
    [InlineData(SettingNames.UpstreamClientId)]
    [InlineData(SettingNames.UpstreamClientSecret)]
    [InlineData(SettingNames.TrustedProxyCount)]
    [InlineData("AzureWebJobsStorage__accountName")]
    [InlineData("APPLICATIONINSIGHTS_CONNECTION_STRING")]
    public void MainBicep_SetsTheAppSetting(string setting) =>
        Assert.Contains($"      {setting}: ", Read("infra/main.bicep"));

    [Fact]
    public void LocalSettingsExample_NamesEveryRequiredLocalSetting()
    {
        var example = Read("local.settings.example.json");
        foreach (var setting in new[]
        {
            SettingNames.DatabaseConnectionString, SettingNames.ApiBase, SettingNames.EncryptionKey, SettingNames.UpstreamIssuer,
            "AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME",
        })
        {
            Assert.Contains($"\"{setting}\"", example);
        }
    }

    /// <summary>`func start` refuses to start without a valid key; the example works as copied, against `./neotoma idp`.</summary>
    [Fact]
    public void LocalSettingsExample_WorksAsCopied_AgainstTheLocalProvider()
    {
        using var example = System.Text.Json.JsonDocument.Parse(Read("local.settings.example.json"));
        var values = example.RootElement.GetProperty("Values");

        Assert.Matches("^[0-9a-f]{64}$", values.GetProperty(SettingNames.EncryptionKey).GetString());
        Assert.Equal("http://localhost:9400", values.GetProperty(SettingNames.UpstreamIssuer).GetString());
        Assert.Contains("cmd_idp()", Read("neotoma"));
    }

    [Fact]
    public void ConfigurationReference_DocumentsEverySetting()
    {
        var docs = Read("docs/configuration.md");
        var names = typeof(SettingNames).GetFields().Select(f => (string)f.GetValue(null)!).ToArray();

        Assert.NotEmpty(names);
        Assert.All(names, name => Assert.Contains($"`{name}`", docs));
    }
}
