namespace Neotoma.Pages;

/// <summary>What <see cref="PageRenderer"/> tells the layout about the page it frames: the script it may load, if any.</summary>
public sealed record PageContext(string? Script);

/// <summary>
/// The page runs <c>/connections.js</c> (copy buttons): the layout loads it and its policy allows
/// same-origin scripts. Pages without it run no script at all.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class CopyButtonsAttribute : Attribute;
