/**
 * The subset of rrweb's numeric constants the embed and the viewer read, written once (rrweb's own
 * `@rrweb/types` holds the full enums; importing it would pull a dependency into protocol/). The
 * values are rrweb's wire format: they never change within rrweb 2.
 */
export const EventType = { DomContentLoaded: 0, Load: 1, FullSnapshot: 2, IncrementalSnapshot: 3, Meta: 4, Custom: 5, Plugin: 6, Asset: 7, Annotation: 8 } as const;

/** Sources of an IncrementalSnapshot event (`data.source`). */
export const IncrementalSource = {
  Mutation: 0, MouseMove: 1, MouseInteraction: 2, Scroll: 3, ViewportResize: 4, Input: 5, TouchMove: 6, MediaInteraction: 7,
  StyleSheetRule: 8, CanvasMutation: 9, Font: 10, Log: 11, Drag: 12, StyleDeclaration: 13, Selection: 14, AdoptedStyleSheet: 15, CustomElement: 16,
} as const;

/** rrweb-snapshot's serialised node types. */
export const NodeType = { Document: 0, DocumentType: 1, Element: 2, Text: 3, CDATA: 4, Comment: 5 } as const;
