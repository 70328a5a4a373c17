using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;

namespace Neotoma.Functions.SelfHost;

/// <summary>
/// Calls a function method the way the isolated worker does: a fresh instance from the
/// request's scope, the trigger's value, and for HTTP the returned <see cref="IActionResult"/>
/// executed on the response.
/// </summary>
internal static class FunctionInvoker
{
    // One constructor factory per function class, built on first use: the per-request cost is a
    // delegate call, as with the worker's generated executor, not a reflection lookup.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, ObjectFactory> Factories = new();

    // Each function's parameters, read once (GetParameters copies the array on every call).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<MethodInfo, ParameterInfo[]> Parameters = new();

    // The action a result executes in: no MVC action runs here, and an ActionDescriptor's constructor
    // makes a new GUID and dictionaries, so one empty descriptor serves every request (results only read it).
    private static readonly ActionDescriptor NoAction = new();

    /// <summary>Fails at start-up, naming the function, when it takes a parameter the self-host cannot give.</summary>
    public static void EnsureSupported(MethodInfo method)
    {
        foreach (var parameter in method.GetParameters())
        {
            var supported = parameter.ParameterType == typeof(HttpRequest)
                || parameter.ParameterType == typeof(TimerInfo)
                || parameter.ParameterType == typeof(CancellationToken)
                || parameter.ParameterType == typeof(string);
            if (!supported)
            {
                throw new NotSupportedException(
                    $"Function {method.DeclaringType?.Name}.{method.Name}: the self-host cannot bind parameter '{parameter.Name}' of type {parameter.ParameterType.Name}. " +
                    "Take dependencies through the constructor instead.");
            }
        }

        var returns = method.ReturnType;
        if (returns != typeof(void) && returns != typeof(Task) && returns != typeof(IActionResult) && returns != typeof(Task<IActionResult>))
        {
            throw new NotSupportedException(
                $"Function {method.DeclaringType?.Name}.{method.Name} returns {returns.Name}; the self-host runs functions returning IActionResult, Task<IActionResult>, Task or void.");
        }
    }

    public static async Task InvokeHttpAsync(HttpContext context, HttpFunction function)
    {
        var routeData = context.GetRouteData();
        var parameters = Parameters.GetOrAdd(function.Method, method => method.GetParameters());
        var arguments = new object?[parameters.Length];
        for (var i = 0; i < parameters.Length; i++)
        {
            arguments[i] = parameters[i].ParameterType switch
            {
                var t when t == typeof(HttpRequest) => context.Request,
                var t when t == typeof(CancellationToken) => context.RequestAborted,
                _ => routeData.Values[parameters[i].Name!]?.ToString(),
            };
        }

        var result = await InvokeAsync(context.RequestServices, function.Method, arguments);
        if (result is IActionResult actionResult)
        {
            await actionResult.ExecuteResultAsync(new ActionContext(context, routeData, NoAction));
        }
    }

    public static Task InvokeTimerAsync(IServiceProvider services, TimerFunction function, TimerInfo timer, CancellationToken cancellationToken)
    {
        var arguments = function.Method.GetParameters().Select(parameter => parameter.ParameterType switch
        {
            var t when t == typeof(TimerInfo) => timer,
            var t when t == typeof(CancellationToken) => (object?)cancellationToken,
            _ => null,
        }).ToArray();
        return InvokeAsync(services, function.Method, arguments);
    }

    private static async Task<object?> InvokeAsync(IServiceProvider services, MethodInfo method, object?[] arguments)
    {
        var instance = method.IsStatic
            ? null
            : Factories.GetOrAdd(method.DeclaringType!, type => ActivatorUtilities.CreateFactory(type, Type.EmptyTypes))(services, null);
        try
        {
            var returned = method.Invoke(instance, arguments);
            switch (returned)
            {
                case Task<IActionResult> withResult:
                    return await withResult;
                case Task task:
                    await task;
                    return null;
                default:
                    return returned;
            }
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
        finally
        {
            if (instance is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync();
            }
            else if (instance is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }
    }
}
