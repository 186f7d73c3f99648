#if !NET5_0_OR_GREATER
namespace System.Runtime.CompilerServices;

/// <summary>Polyfill that lets netstandard2.0 code declare records and init-only properties (net5.0+ has it).</summary>
internal static class IsExternalInit
{
}
#endif
