using System.Security.Cryptography;

namespace Neotoma.Pages;

/// <summary>
/// A file the pages load from this origin (CSP <c>'self'</c>), embedded in this assembly. Its
/// <see cref="Href"/> carries a hash of its content, so a browser may keep it for a year: new
/// content gets a new address.
/// </summary>
public sealed class StaticAsset
{
    private StaticAsset(string path, string contentType, string resource)
    {
        using var stream = typeof(StaticAsset).Assembly.GetManifestResourceStream("Neotoma.Pages.Assets." + resource)
            ?? throw new InvalidOperationException($"The embedded asset {resource} is missing from {typeof(StaticAsset).Assembly.GetName().Name}.");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        Path = path;
        ContentType = contentType;
        Content = buffer.ToArray();
        Version = Convert.ToHexStringLower(SHA256.HashData(Content))[..16];
    }

    /// <summary>The one stylesheet of every page.</summary>
    public static StaticAsset Stylesheet { get; } = new("/neotoma.css", "text/css; charset=utf-8", "neotoma.css");

    /// <summary>The connections page's copy buttons.</summary>
    public static StaticAsset CopyScript { get; } = new("/connections.js", "text/javascript; charset=utf-8", "connections.js");

    public string Path { get; }

    public string ContentType { get; }

    public byte[] Content { get; }

    /// <summary>The first 16 hex digits of the content's SHA-256: the <c>v</c> of <see cref="Href"/> and the ETag.</summary>
    public string Version { get; }

    public string ETag => $"\"{Version}\"";

    public string Href => $"{Path}?v={Version}";
}
