/**
 * The elements and attributes the replayed page may contain. Names are compared
 * namespace-insensitively: lowercased, with any `prefix:` stripped (`svg:style` is `style`,
 * `xlink:href` is `href`). Anything not listed is removed: a new browser feature never becomes
 * reachable from a hostile stream by default.
 */

/** `SVG:Style` → `style`, `xlink:href` → `href`. */
export const localName = (name: string) => name.toLowerCase().replace(/^.*:/, '');

const words = (s: string) => new Set(s.trim().split(/\s+/));

export const HTML_ELEMENTS = words(`
  a abbr acronym address area article aside audio b bdi bdo big blockquote body br button canvas caption center cite code col
  colgroup data datalist dd del details dfn dialog dir div dl dt em fieldset figcaption figure font footer form h1 h2 h3 h4 h5
  h6 head header hgroup hr html i iframe img input ins kbd label legend li link main map mark marquee menu meta meter nav nobr ol
  optgroup option output p picture pre progress q rp rt ruby s samp search section select selectedcontent slot small source span
  strike strong style sub summary sup table tbody td template textarea tfoot th thead time title tr track tt u ul var video wbr
`);

export const SVG_ELEMENTS = words(`
  svg g defs symbol use image switch desc title metadata path rect circle ellipse line polyline polygon text tspan textpath
  lineargradient radialgradient stop pattern clippath mask marker filter view a style foreignobject
  feblend fecolormatrix fecomponenttransfer fecomposite feconvolvematrix fediffuselighting fedisplacementmap fedistantlight
  fedropshadow feflood fefunca fefuncb fefuncg fefuncr fegaussianblur feimage femerge femergenode femorphology feoffset
  fepointlight fespecularlighting fespotlight fetile feturbulence
`);

/**
 * Kept as an empty, attribute-less placeholder (the id stays, so later mutations that name it
 * do not go astray), and nothing is ever added into it: script, SVG animation (which can set
 * any attribute, `href` included, past the sanitiser), plugins, frames from URLs, `<base>`.
 */
export const INERT_ELEMENTS = words(`
  script noscript base object embed applet param frame frameset portal fencedframe
  animate animatemotion animatetransform set discard mpath handler listener
`);
export const PLACEHOLDER = 'noscript';

/** Names no custom element may take (HTML spec), some of them SVG elements with behaviour. */
const RESERVED_CUSTOM = words('annotation-xml color-profile font-face font-face-src font-face-uri font-face-format font-face-name missing-glyph');
const CUSTOM_NAME = /^[a-z][a-z0-9._]*-[a-z0-9._-]*$/;
export const isCustomElementName = (name: string) => CUSTOM_NAME.test(name) && !RESERVED_CUSTOM.has(name);

/** Attributes with no URL, script or CSS in them, on any element. */
export const PLAIN_ATTRIBUTES = words(`
  id class title lang dir hidden tabindex role accesskey contenteditable draggable spellcheck translate inert slot part
  exportparts popover popovertarget popovertargetaction width height align valign bgcolor color border cellpadding cellspacing
  colspan rowspan headers scope abbr nowrap face size type name value placeholder checked selected disabled readonly required
  multiple min max step maxlength minlength pattern autocomplete for label alt rows cols wrap start reversed span open datetime
  loading decoding sizes media hreflang ismap shape coords controls autoplay loop muted playsinline preload kind srclang default
  frameborder scrolling summary clear hspace vspace marginwidth marginheight noshade compact list form formnovalidate novalidate
  enctype method accept inputmode enterkeyhint autocapitalize dirname high low optimum charset content itemprop itemscope
  property datetime translate behavior direction scrollamount scrolldelay truespeed
  xmlns space
  x y x1 x2 y1 y2 cx cy r rx ry fx fy fr d points viewbox preserveaspectratio patternunits patterncontentunits patterntransform
  gradientunits gradienttransform spreadmethod offset clippathunits maskunits maskcontentunits markerunits markerwidth
  markerheight refx refy orient filterunits primitiveunits in in2 result mode operator k1 k2 k3 k4 stddeviation dx dy values
  tablevalues slope intercept amplitude exponent basefrequency numoctaves seed stitchtiles scale xchannelselector
  ychannelselector radius kernelmatrix order divisor bias targetx targety edgemode kernelunitlength preservealpha
  surfacescale diffuseconstant specularconstant specularexponent azimuth elevation z pointsatx pointsaty pointsatz
  limitingconeangle textlength lengthadjust startoffset spacing side rotate requiredfeatures systemlanguage version
  baseprofile zoomandpan focusable pathlength
  alignment-baseline baseline-shift clip clip-path clip-rule color-interpolation color-interpolation-filters color-rendering
  cursor display dominant-baseline fill fill-opacity fill-rule filter flood-color flood-opacity font-family font-size
  font-size-adjust font-stretch font-style font-variant font-weight glyph-orientation-horizontal glyph-orientation-vertical
  image-rendering letter-spacing lighting-color marker-end marker-mid marker-start mask mask-type opacity overflow
  paint-order pointer-events shape-rendering stop-color stop-opacity stroke stroke-dasharray stroke-dashoffset
  stroke-linecap stroke-linejoin stroke-miterlimit stroke-opacity stroke-width text-anchor text-decoration text-rendering
  transform transform-origin unicode-bidi vector-effect visibility word-spacing writing-mode
`);

/** Free text: never parsed as CSS by the browser, so not scanned for url(). */
export const TEXT_ATTRIBUTES = words('title alt value placeholder label abbr summary content');

/** rrweb's own markers (sizes, media state, scroll, open mode), applied by the Replayer. */
export const RRWEB_ATTRIBUTES = words(`
  rr_width rr_height rr_mediastate rr_mediacurrenttime rr_mediaplaybackrate rr_mediamuted rr_medialoop rr_mediavolume
  rr_open_mode rr_scrollleft rr_scrolltop
`);

export const isDataOrAria = (n: string) => /^(data|aria)-[a-z0-9._-]*$/.test(n);
