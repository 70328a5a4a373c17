using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Neotoma.Core.Configuration;

/// <summary>
/// How every options type is read from the flat settings and checked. Reading never throws: a
/// malformed value binds as its default, and the options' validator reports it (naming the setting
/// and the fix) together with every other failure when the host starts, so a person fixes all at once.
/// </summary>
public static class Settings
{
    /// <summary>
    /// Registers <typeparamref name="T"/> bound by <paramref name="bind"/>, checked by <paramref name="validator"/>
    /// when the host starts, and injectable as itself, so services take the options record and tests
    /// replace it with <c>Configure&lt;T&gt;</c> or <c>PostConfigure&lt;T&gt;</c>.
    /// </summary>
    public static OptionsBuilder<T> AddSettingsOptions<T>(
        this IServiceCollection services, IConfiguration configuration, Action<T, IConfiguration> bind, IValidateOptions<T>? validator = null)
        where T : class
    {
        if (validator is not null)
        {
            services.AddSingleton(validator);
        }

        services.TryAddSingleton(sp => sp.GetRequiredService<IOptions<T>>().Value);
        var options = services.AddOptions<T>().Configure(options => bind(options, configuration)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, SettingsCheck>());
        return options;
    }

    /// <summary>The setting's value, or null when it is unset or blank.</summary>
    public static string? Text(IConfiguration configuration, string name) =>
        configuration[name] is { } value && !string.IsNullOrWhiteSpace(value) ? value : null;

    /// <summary>A whole number of 0 or more, or <paramref name="defaultValue"/> when unset (or malformed: <see cref="NotWholeNumber"/> reports it).</summary>
    public static int Integer(IConfiguration configuration, string name, int defaultValue) =>
        Text(configuration, name) is { } value && int.TryParse(value, out var parsed) && parsed >= 0 ? parsed : defaultValue;

    public static string? NotWholeNumber(IConfiguration configuration, string name) =>
        Text(configuration, name) is { } value && !(int.TryParse(value, out var parsed) && parsed >= 0)
            ? $"{name} must be a whole number of 0 or more; got '{value}'."
            : null;

    public static string? Missing(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? $"The setting {name} is required. See docs/configuration.md." : null;

    /// <summary>An absolute http(s) URL without query or fragment and without trailing slash (an issuer), or the setting's error.</summary>
    public static string HttpUrl(string baseUrl, string settingName)
    {
        if (!Uri.TryCreate(baseUrl.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            throw new NeotomaConfigurationException(settingName,
                $"{settingName} must be the absolute http(s) URL clients use to reach Neotoma, without query or fragment (e.g. https://neotoma.example.com); got '{baseUrl}'.");
        }

        return uri.GetLeftPart(UriPartial.Path).TrimEnd('/');
    }

    /// <summary>The setting as <paramref name="normalize"/> gives it, or as given when it cannot (its validator says why).</summary>
    public static string NormalizedOrAsGiven(string? value, Func<string, string> normalize)
    {
        try
        {
            return normalize(value ?? "");
        }
        catch (NeotomaConfigurationException)
        {
            return value ?? "";
        }
    }

    /// <summary>What a check that throws <see cref="NeotomaConfigurationException"/> says, or null when it passes.</summary>
    public static string? Problem(Action check)
    {
        try
        {
            check();
            return null;
        }
        catch (NeotomaConfigurationException e)
        {
            return e.Message;
        }
    }

    /// <summary>Every failure found, or success: a validator's answer.</summary>
    public static ValidateOptionsResult Result(params IEnumerable<string?> failures) =>
        failures.OfType<string>().ToList() is { Count: > 0 } found ? ValidateOptionsResult.Fail(found) : ValidateOptionsResult.Success;

    /// <summary>
    /// Each failure an <see cref="OptionsValidationException"/> (or several, from different options)
    /// carries, or null for any other exception: what a verb prints, one line each.
    /// </summary>
    public static IReadOnlyList<string>? Failures(Exception exception) => exception switch
    {
        OptionsValidationException single => [.. single.Failures],
        AggregateException many when many.InnerExceptions.All(e => e is OptionsValidationException) =>
            [.. many.InnerExceptions.SelectMany(e => ((OptionsValidationException)e).Failures)],
        _ => null,
    };
}
