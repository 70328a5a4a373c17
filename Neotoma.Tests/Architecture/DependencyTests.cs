using NetArchTest.Rules;
using Neotoma.Core.OAuth;

namespace Neotoma.Tests.Architecture;

/// <summary>
/// Dependencies between Neotoma.Core's folders point one way (features such as OAuth, Web and Mcp
/// over primitives such as Storage, Security and Errors), read from the compiled assembly's type
/// references, not from using directives.
/// </summary>
public sealed class DependencyTests
{
    private static readonly System.Reflection.Assembly Core = typeof(TokenService).Assembly;

    /// <summary>Every folder namespace under Neotoma.Core (the composition root itself excepted: it wires everything).</summary>
    private static readonly string[] Folders = Core.GetTypes()
        .Select(type => type.Namespace)
        .OfType<string>()
        .Where(name => name.StartsWith("Neotoma.Core.", StringComparison.Ordinal))
        .Select(name => string.Join('.', name.Split('.').Take(3)))
        .Distinct()
        .Order()
        .ToArray();

    [Fact]
    public void NoFolderOfNeotomaCore_UsesOneThatUsesItBack()
    {
        var uses = Folders.ToDictionary(folder => folder, folder => Folders
            .Where(other => other != folder && (Types.InAssembly(Core).That().ResideInNamespace(folder).And().HaveDependencyOn(other).GetTypes()?.Any() ?? false))
            .ToHashSet());
        var cycles = new List<string>();
        foreach (var folder in Folders)
        {
            if (PathBack(uses, folder) is { } path)
            {
                cycles.Add(string.Join(" -> ", path));
            }
        }

        Assert.True(Folders.Length >= 10, $"found only {Folders.Length} folders: {string.Join(", ", Folders)}");
        Assert.True(cycles.Count == 0, "cycles between folders:\n" + string.Join("\n", cycles) + "\n" + Explain(uses, cycles));
    }

    [Fact]
    public void Primitives_UseNoFeature()
    {
        string[] primitives = ["Neotoma.Core.Errors", "Neotoma.Core.Storage", "Neotoma.Core.Security", "Neotoma.Core.Configuration"];
        string[] features = ["Neotoma.Core.OAuth", "Neotoma.Core.Web", "Neotoma.Core.Mcp", "Neotoma.Core.Truth", "Neotoma.Core.Upstream"];

        var result = Types.InAssembly(Core).That().ResideInNamespace(primitives[0]).Or().ResideInNamespace(primitives[1])
            .Or().ResideInNamespace(primitives[2]).Or().ResideInNamespace(primitives[3])
            .ShouldNot().HaveDependencyOnAny(features).GetResult();

        Assert.True(result.IsSuccessful, "primitives using features: " + string.Join(", ", result.FailingTypeNames ?? []));
    }

    /// <summary>A path from <paramref name="start"/> back to itself, if there is one.</summary>
    private static List<string>? PathBack(Dictionary<string, HashSet<string>> uses, string start)
    {
        var stack = new Stack<List<string>>();
        stack.Push([start]);
        var seen = new HashSet<string>();
        while (stack.TryPop(out var path))
        {
            foreach (var next in uses[path[^1]])
            {
                if (next == start)
                {
                    return [.. path, start];
                }

                if (seen.Add(next))
                {
                    stack.Push([.. path, next]);
                }
            }
        }

        return null;
    }

    private static string Explain(Dictionary<string, HashSet<string>> uses, List<string> cycles) =>
        string.Join("\n", cycles.SelectMany(cycle => cycle.Split(" -> ").Zip(cycle.Split(" -> ").Skip(1)))
            .Distinct()
            .Select(edge => $"{edge.First} -> {edge.Second}: " + string.Join(", ",
                Types.InAssembly(Core).That().ResideInNamespace(edge.First).And().HaveDependencyOn(edge.Second).GetTypes().Select(type => type.Name))));
}
