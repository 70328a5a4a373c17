using System.Text.Json;
using System.Text.Json.Nodes;
using Neotoma.Tests.Infrastructure;
using Neotoma.Tests.WorkerPath;
using Xunit.Abstractions;

namespace Neotoma.Tests.Mcp;

/// <summary>
/// The tool contract as clients that validate hold us to it: every answer matches the tool's output
/// schema (the official TypeScript clients throw answers away otherwise), and the schemas are ones
/// every client accepts (the MCP Inspector's strict portability check). On both hosts.
/// </summary>
public abstract class ToolContractSuite<TFixture>(TFixture fixture, ITestOutputHelper output) where TFixture : OAuthFixture
{
    /// <summary>The official TypeScript clients, 1.x (@modelcontextprotocol/sdk) and v2 (@modelcontextprotocol/client), call all 14 tools after tools/list.</summary>
    [Theory]
    [InlineData("v1")]
    [InlineData("v2")]
    public async Task EveryTool_AnswersWithinItsOutputSchema_InTheOfficialTypeScriptClient(string client)
    {
        var (tokens, _) = await fixture.SignInAsync($"contract-{client}");

        var run = await TypeScriptClient.RunAsync("contract.mjs", fixture.Resource,
            (_, _) => throw new InvalidOperationException("the contract script has a token and never signs in"),
            new Dictionary<string, string> { ["ACCESS_TOKEN"] = tokens.AccessToken, ["MCP_CLIENT"] = client });

        using var summary = JsonDocument.Parse(run.Output["RESULT_CONTRACT"]);
        Assert.Equal(14, summary.RootElement.GetProperty("tools").GetInt32());
        output.WriteLine(run.Output["RESULT_CONTRACT"]);
    }

    /// <summary>MCP Inspector 2.12's CLI, <c>tools/list --strict</c>: no error and no portability warning.</summary>
    [Fact]
    public async Task ToolsList_PassesTheInspectorsStrictCheck()
    {
        var (tokens, _) = await fixture.SignInAsync("inspector-strict");

        var run = await InspectorCli.RunAsync(fixture.Resource, tokens.AccessToken, "--method", "tools/list", "--strict");

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.DoesNotContain("Warning:", run.Output);
        Assert.DoesNotContain("Error:", run.Output);
        Assert.Contains("\"get_authenticated_user\"", run.Output);
    }

    /// <summary>
    /// By construction every member of an answer is present, and one that can be null says so with
    /// anyOf: each object schema requires all its properties, and no schema has a type array.
    /// </summary>
    [Fact]
    public async Task OutputSchemas_RequireEveryMember_AndNameOneTypePerSchema()
    {
        await using var client = await fixture.ConnectAsync("schema-reader");

        var tools = await client.ListToolsAsync();

        Assert.Equal(14, tools.Count);
        foreach (var tool in tools)
        {
            var schema = JsonNode.Parse(tool.ProtocolTool.OutputSchema!.Value.GetRawText())!.AsObject();
            Assert.Equal("object", schema["type"]?.GetValue<string>());
            foreach (var (path, node) in Walk(schema, tool.Name))
            {
                Assert.False(node["type"] is JsonArray, $"{path} has a type array: {node.ToJsonString()}");
                if (node["properties"] is JsonObject properties)
                {
                    var required = node["required"]?.AsArray().Select(r => r!.GetValue<string>()).ToHashSet() ?? [];
                    Assert.True(properties.All(p => required.Contains(p.Key)), $"{path} does not require all of {string.Join(", ", properties.Select(p => p.Key))}");
                }
            }
        }
    }

    private static IEnumerable<(string Path, JsonObject Node)> Walk(JsonObject node, string path)
    {
        yield return (path, node);
        foreach (var (key, child) in node)
        {
            IEnumerable<(string, JsonNode?)> children = child switch
            {
                JsonObject o when key is "properties" or "$defs" => o.Select(p => (path + "." + p.Key, p.Value)),
                JsonObject o => [(path + "." + key, o)],
                JsonArray a => a.Select((item, i) => ($"{path}.{key}[{i}]", item)),
                _ => [],
            };
            foreach (var (childPath, item) in children)
            {
                if (item is JsonObject schema)
                {
                    foreach (var found in Walk(schema, childPath))
                    {
                        yield return found;
                    }
                }
            }
        }
    }
}

public sealed class ToolContractTests(OAuthFixture fixture, ITestOutputHelper output)
    : ToolContractSuite<OAuthFixture>(fixture, output), IClassFixture<OAuthFixture>;

/// <summary>The same through the real worker over the Functions RPC protocol.</summary>
public sealed class WorkerPathToolContractTests(WorkerPathFixture fixture, ITestOutputHelper output)
    : ToolContractSuite<WorkerPathFixture>(fixture, output), IClassFixture<WorkerPathFixture>;
