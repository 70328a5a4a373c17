using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

/// <summary>The compiled ARM template (infra/check's build of main.bicep) as built once for every test here.</summary>
public sealed class CompiledTemplate : IAsyncLifetime
{
    public JsonObject Main { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var output = Directory.CreateTempSubdirectory("neotoma-arm-").FullName;
        var start = new ProcessStartInfo("bash", [Path.Combine(DevIdentityProvider.RepositoryRoot(), "infra", "check")])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment["BICEP_OUT"] = output;
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, "infra/check failed (it also fails on any Bicep warning): " + await errors);
        Main = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "main.json")))!.AsObject();
        Directory.Delete(output, recursive: true);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A module (nested deployment) of main.bicep by its deployment name.</summary>
    public JsonObject Module(string name) => Resources(Main).Single(r => (string?)r["name"] == name && (string?)r["type"] == "Microsoft.Resources/deployments");

    public static IEnumerable<JsonObject> Resources(JsonObject template) => template["resources"] switch
    {
        JsonArray list => list.OfType<JsonObject>(),
        JsonObject named => named.Select(pair => pair.Value).OfType<JsonObject>(),
        _ => [],
    };

    public static IEnumerable<JsonObject> Resources(JsonObject module, string type) =>
        Resources(module["properties"]!["template"]!.AsObject()).Where(r => (string?)r["type"] == type);

    public static string Bound(JsonObject module, string parameter) => (string)module["properties"]!["parameters"]![parameter]!["value"]!;

    /// <summary>The role names (properties of the <c>roles</c> variable) a role assignment of a module can grant.</summary>
    public static IEnumerable<string> RolesGranted(JsonObject module, JsonObject assignment)
    {
        var expression = (string)assignment["properties"]!["roleDefinitionId"]!;
        var variables = module["properties"]!["template"]!["variables"]?.AsObject();
        // A role taken from an array variable (a copy loop): the names listed in that variable.
        foreach (Match array in Regex.Matches(expression, @"variables\('(?<name>[A-Za-z]+)'\)\[copyIndex\(\)\]"))
        {
            var listed = string.Join(" ", variables?[array.Groups["name"].Value]?.AsArray().Select(item => (string?)item) ?? []);
            foreach (Match role in Regex.Matches(listed, @"roles'\)\.(?<role>[A-Za-z]+)"))
            {
                yield return role.Groups["role"].Value;
            }
        }

        foreach (Match role in Regex.Matches(expression, @"variables\('roles'\)\.(?<role>[A-Za-z]+)"))
        {
            yield return role.Groups["role"].Value;
        }
    }
}

/// <summary>
/// Least privilege in the Azure template, checked on what Azure would receive: the app's identity
/// gets data-plane roles only and is not PostgreSQL's administrator; the operator (the deployer
/// or an admin group) is, and may set Key Vault secrets, as the README's commands need.
/// </summary>
public sealed class AzureTemplateTests(CompiledTemplate template) : IClassFixture<CompiledTemplate>
{
    private static readonly string[] AppRoles =
        ["storageBlobDataOwner", "storageQueueDataContributor", "storageTableDataContributor", "keyVaultSecretsUser", "monitoringMetricsPublisher"];

    [Fact]
    public void AppIdentity_GetsDataRolesOnly()
    {
        var access = template.Module("role-assignments");
        var granted = CompiledTemplate.Resources(access, "Microsoft.Authorization/roleAssignments")
            .SelectMany(assignment => CompiledTemplate.RolesGranted(access, assignment)).Distinct().Order().ToArray();

        Assert.Contains("outputs.principalId", CompiledTemplate.Bound(access, "principalId"));
        Assert.Equal(AppRoles.Order(), granted);
    }

    [Fact]
    public void PostgresAdministrator_IsTheOperator_NeverTheApp()
    {
        var postgres = template.Module("postgres");
        var administrators = CompiledTemplate.Resources(postgres, "Microsoft.DBforPostgreSQL/flexibleServers/administrators").ToArray();

        var admin = Assert.Single(administrators);
        Assert.Contains("parameters('adminPrincipalId')", (string)admin["name"]!);
        Assert.Equal("[parameters('adminPrincipalId')]", CompiledTemplate.Bound(postgres, "adminPrincipalId"));
        Assert.DoesNotContain("functionapp", template.Module("postgres")["properties"]!["parameters"]!.ToJsonString());
    }

    /// <summary>
    /// Every extension a migration creates is allow-listed on the server (azure.extensions) and created
    /// by the post-provision hook as the administrator: the app's role may create tables, not extensions,
    /// and Flexible Server refuses an extension that is not allow-listed, so the migration would fail.
    /// </summary>
    [Fact]
    public void EveryExtensionTheMigrationsCreate_IsAllowListedAndCreatedByTheAdministrator()
    {
        var root = DevIdentityProvider.RepositoryRoot();
        var extensions = Directory.EnumerateFiles(Path.Combine(root, "Neotoma.Core", "Storage", "Migrations"), "*.sql")
            .SelectMany(path => Regex.Matches(File.ReadAllText(path), @"CREATE EXTENSION IF NOT EXISTS (\w+)").Select(match => match.Groups[1].Value))
            .ToArray();
        var postgres = template.Module("postgres").ToJsonString();
        var hook = File.ReadAllText(Path.Combine(root, "infra", "hooks", "postprovision.sh"));

        Assert.Equal(["pg_trgm", "btree_gin"], extensions);
        Assert.Contains("azure.extensions", postgres);
        Assert.All(extensions, extension =>
        {
            Assert.Contains(extension.ToUpperInvariant(), postgres);
            Assert.Contains($"CREATE EXTENSION IF NOT EXISTS {extension};", hook);
        });
    }

    [Fact]
    public void Operator_MaySetKeyVaultSecrets()
    {
        var adminAccess = template.Module("admin-access");
        var granted = CompiledTemplate.Resources(adminAccess, "Microsoft.Authorization/roleAssignments")
            .SelectMany(assignment => CompiledTemplate.RolesGranted(adminAccess, assignment)).ToArray();

        Assert.Equal(["keyVaultSecretsOfficer"], granted);
        Assert.Equal("[parameters('adminPrincipalId')]", CompiledTemplate.Bound(adminAccess, "principalId"));
    }

    [Fact]
    public void NoRoleAssignment_AnywhereGrantsOwnerContributorOrAccessAdministration()
    {
        // Owner, Contributor, User Access Administrator, Key Vault Administrator.
        string[] forbidden = ["8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "00482a5a-887f-4fb3-b363-3b7fe8e74483"];

        var text = template.Main.ToJsonString();

        Assert.All(forbidden, id => Assert.DoesNotContain(id, text));
    }

    [Fact]
    public void PrivateNetwork_DropsTheAzureWideFirewallRule_AndReachesFiveServicesPrivately()
    {
        var postgres = template.Module("postgres");
        var azureWide = CompiledTemplate.Resources(postgres, "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules")
            .Single(rule => ((string)rule["name"]!).Contains("AllowAzureServices"));
        var endpoints = CompiledTemplate.Resources(template.Main).Single(r => ((string?)r["name"])?.Contains("endpoint-") == true);
        var groups = template.Main["variables"]!["endpointGroups"]!.ToJsonString();

        Assert.Equal("[not(parameters('privateNetwork'))]", (string?)azureWide["condition"]);
        Assert.Equal("[parameters('vnetEnabled')]", CompiledTemplate.Bound(postgres, "privateNetwork"));
        Assert.NotNull(endpoints["copy"]);
        Assert.All(new[] { "blob", "queue", "table", "vault", "postgresqlServer" }, group => Assert.Contains(group, groups));
    }
}
