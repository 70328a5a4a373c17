using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace Neotoma.Functions.SelfHost;

/// <summary>An HTTP function as the self-host serves it.</summary>
public sealed record HttpFunction(string Name, string Route, IReadOnlyList<string> Methods, MethodInfo Method)
{
    /// <summary>The route template with host.json's routePrefix applied, as the Functions host serves it.</summary>
    public string Template(string routePrefix) =>
        string.IsNullOrEmpty(routePrefix) ? Route : $"{routePrefix.Trim('/')}/{Route}";
}

/// <summary>A timer function and its NCRONTAB schedule (six fields, seconds first).</summary>
public sealed record TimerFunction(string Name, string Schedule, bool RunOnStartup, MethodInfo Method);

/// <summary>
/// The functions of an assembly, read from the same <c>[Function]</c>, <c>[HttpTrigger]</c> and
/// <c>[TimerTrigger]</c> attributes the Functions SDK turns into functions.metadata.
/// </summary>
public sealed record FunctionCatalog(IReadOnlyList<HttpFunction> Http, IReadOnlyList<TimerFunction> Timers)
{
    public static FunctionCatalog Discover(Assembly assembly)
    {
        var http = new List<HttpFunction>();
        var timers = new List<TimerFunction>();
        foreach (var method in assembly.GetTypes().SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static)))
        {
            var function = method.GetCustomAttribute<FunctionAttribute>();
            if (function is null)
            {
                continue;
            }

            foreach (var parameter in method.GetParameters())
            {
                if (parameter.GetCustomAttribute<HttpTriggerAttribute>() is { } trigger)
                {
                    var methods = trigger.Methods is { Length: > 0 }
                        ? trigger.Methods.Select(m => m.ToUpperInvariant()).ToArray()
                        : [HttpMethods.Get, HttpMethods.Post, HttpMethods.Put, HttpMethods.Delete, HttpMethods.Patch, HttpMethods.Head, HttpMethods.Options];
                    http.Add(new HttpFunction(function.Name, trigger.Route ?? function.Name, methods, method));
                }
                else if (parameter.GetCustomAttribute<TimerTriggerAttribute>() is { } timer)
                {
                    timers.Add(new TimerFunction(function.Name, timer.Schedule, timer.RunOnStartup, method));
                }
            }

            FunctionInvoker.EnsureSupported(method);
        }

        return new FunctionCatalog(
            http.OrderBy(f => f.Name, StringComparer.Ordinal).ToArray(),
            timers.OrderBy(f => f.Name, StringComparer.Ordinal).ToArray());
    }
}
