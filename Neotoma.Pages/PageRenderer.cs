using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Neotoma.Pages;

/// <summary>A page as HTML, with the Content-Security-Policy it is served under.</summary>
public sealed record RenderedPage(string Html, string ContentSecurityPolicy);

/// <summary>
/// Renders a page component to HTML with ASP.NET Core's <see cref="HtmlRenderer"/>. Razor encodes every
/// value a component writes (text and attributes), so no page can be made to run or show markup from
/// its data. The policy allows exactly what <see cref="Layout.PageLayout"/> loads: the stylesheet from this
/// origin, and for a <see cref="CopyButtonsAttribute"/> page its script; nothing inline.
/// </summary>
public static class PageRenderer
{
    public const string Policy = "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'";

    public const string PolicyWithScript = Policy + "; script-src 'self'; connect-src 'none'";

    public static async Task<RenderedPage> RenderAsync<TPage>(IServiceProvider services, IReadOnlyDictionary<string, object?> parameters)
        where TPage : IComponent
    {
        var script = typeof(TPage).IsDefined(typeof(CopyButtonsAttribute), inherit: false);
        var context = new PageContext(script ? StaticAsset.CopyScript.Href : null);
        RenderFragment page = builder =>
        {
            builder.OpenComponent<TPage>(0);
            foreach (var (name, value) in parameters)
            {
                builder.AddComponentParameter(1, name, value);
            }

            builder.CloseComponent();
        };

        await using var renderer = new HtmlRenderer(services, services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance);
        var html = await renderer.Dispatcher.InvokeAsync(async () =>
        {
            var root = await renderer.RenderComponentAsync<CascadingValue<PageContext>>(ParameterView.FromDictionary(new Dictionary<string, object?>
            {
                [nameof(CascadingValue<PageContext>.Value)] = context,
                [nameof(CascadingValue<PageContext>.IsFixed)] = true,
                [nameof(CascadingValue<PageContext>.ChildContent)] = page,
            }));
            return root.ToHtmlString();
        });
        return new RenderedPage(html, script ? PolicyWithScript : Policy);
    }
}
