// A wide table that scrolls on its own at 200% zoom instead of pushing the page sideways; the
// scrolling region is focusable and named, so keyboard users can scroll it too.
import type { ComponentChildren } from 'preact'

export function TableRegion({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-region" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  )
}
