using System.Text.Json;
using Neotoma.Functions;
using Neotoma.Functions.SelfHost;

namespace Neotoma.Tests.Foundation;

/// <summary>The self-host and the Functions host must serve exactly the same functions.</summary>
public sealed class SelfHostRouteTableTests
{
    private static readonly FunctionCatalog Catalog = FunctionCatalog.Discover(typeof(HealthFunction).Assembly);

    [Fact]
    public void SelfHostHttpRoutes_EqualGeneratedFunctionsMetadata()
    {
        var generated = ReadMetadata()
            .Where(f => f.Trigger == "httpTrigger")
            .Select(f => $"{f.Name} {f.Route} {string.Join(",", f.Methods.Select(m => m.ToUpperInvariant()).Order())}")
            .Order()
            .ToArray();
        var selfHost = Catalog.Http
            .Select(f => $"{f.Name} {f.Route} {string.Join(",", f.Methods.Order())}")
            .Order()
            .ToArray();

        Assert.NotEmpty(generated);
        Assert.Equal(generated, selfHost);
    }

    [Fact]
    public void SelfHostTimers_EqualGeneratedFunctionsMetadata()
    {
        var generated = ReadMetadata()
            .Where(f => f.Trigger == "timerTrigger")
            .Select(f => $"{f.Name} {f.Schedule}")
            .ToArray();
        var selfHost = Catalog.Timers.Select(f => $"{f.Name} {f.Schedule}").ToArray();

        Assert.Contains("StateCleanup 0 */5 * * * *", generated);
        Assert.Equal(generated.Order(), selfHost.Order());
    }

    [Fact]
    public void HostJson_PutsRoutesAtTheRoot()
    {
        var prefix = HostSettings.ReadRoutePrefix(Path.Combine(AppContext.BaseDirectory, "host.json"));

        Assert.Equal("", prefix);
        Assert.Contains(Catalog.Http, f => f.Template(prefix) == "api/health");
    }

    internal sealed record GeneratedFunction(string Name, string Trigger, string? Route, string[] Methods, string? Schedule);

    internal static IReadOnlyList<GeneratedFunction> ReadMetadata()
    {
        var path = Infrastructure.WorkerHostServer.FunctionsMetadataPath;
        Assert.True(File.Exists(path), $"functions.metadata not found at {path}: the Functions SDK did not generate it");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.EnumerateArray().Select(function =>
        {
            var trigger = function.GetProperty("bindings").EnumerateArray()
                .First(b => b.GetProperty("direction").GetString() == "In" && b.GetProperty("type").GetString()!.EndsWith("Trigger"));
            return new GeneratedFunction(
                function.GetProperty("name").GetString()!,
                trigger.GetProperty("type").GetString()!,
                trigger.TryGetProperty("route", out var route) ? route.GetString() : null,
                trigger.TryGetProperty("methods", out var methods) ? methods.EnumerateArray().Select(m => m.GetString()!).ToArray() : [],
                trigger.TryGetProperty("schedule", out var schedule) ? schedule.GetString() : null);
        }).ToArray();
    }
}
