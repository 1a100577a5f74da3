"use strict";(self.rspackChunknbversion=self.rspackChunknbversion||[]).push([[232],{20(o,r,e){var n=e(21),i=e.n(n),t=e(22),a=(e.n(t))()(i());a.push([o.id,`/* nbversion version panel. Colours from JupyterLab's theme variables. */

.jp-nbversion-panel {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  min-width: 240px;
}

.jp-nbversion {
  display: flex;
  flex-direction: column;
  height: 100%;
  overflow: hidden;
}

.jp-nbversion-toolbar {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 6px;
  padding: 6px 8px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  flex: 0 0 auto;
}

.jp-nbversion-field {
  display: flex;
  align-items: center;
  gap: 4px;
}

.jp-nbversion-field select {
  max-width: 140px;
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  border: var(--jp-border-width) solid var(--jp-border-color1);
}

.jp-nbversion-kernel {
  margin-left: auto;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.jp-nbversion-kernel::before {
  content: '';
  display: inline-block;
  width: 7px;
  height: 7px;
  margin-right: 4px;
  border-radius: 50%;
  background: var(--jp-layout-color4);
}

.jp-nbversion-kernel.jp-mod-connected::before {
  background: var(--jp-success-color1);
}

.jp-nbversion-path {
  padding: 2px 8px;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
  white-space: nowrap;
  overflow: hidden;
  text-overflow: ellipsis;
  flex: 0 0 auto;
}

.jp-nbversion-button {
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: 2px;
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
  padding: 2px 8px;
  cursor: pointer;
}

.jp-nbversion-button:hover:not(:disabled) {
  background: var(--jp-layout-color3);
}

.jp-nbversion-button:disabled {
  opacity: 0.5;
  cursor: default;
}

.jp-nbversion-error {
  position: relative;
  display: flex;
  flex-direction: column;
  gap: 2px;
  margin: 6px 8px;
  padding: 6px 8px;
  border: var(--jp-border-width) solid var(--jp-error-color1);
  border-radius: 2px;
  background: var(--jp-error-color3);
  color: var(--jp-ui-font-color1);
  white-space: pre-wrap;
  word-break: break-word;
  flex: 0 0 auto;
}

.jp-nbversion-error-type {
  padding-right: 16px;
  font-weight: bold;
  color: var(--jp-error-color1);
}

.jp-nbversion-error-message {
  flex: 1 1 auto;
}

.jp-nbversion-dismiss {
  position: absolute;
  top: 2px;
  right: 2px;
  border: none;
  background: transparent;
  color: inherit;
  cursor: pointer;
}

.jp-nbversion-notice {
  margin: 4px 8px;
  padding: 4px 8px;
  border-left: 3px solid var(--jp-info-color1);
  background: var(--jp-info-color3);
  flex: 0 0 auto;
}

.jp-nbversion-empty,
.jp-nbversion-muted {
  padding: 8px;
  color: var(--jp-ui-font-color2);
}

.jp-nbversion-list {
  position: relative;
  flex: 1 1 0;
  min-height: 84px;
  overflow: auto;
  outline: none;
}

.jp-nbversion-list-inner {
  position: relative;
  width: 100%;
}

.jp-nbversion-row {
  position: absolute;
  left: 0;
  right: 0;
  display: flex;
  align-items: center;
  gap: 6px;
  padding-right: 8px;
  white-space: nowrap;
  overflow: hidden;
  cursor: pointer;
  box-sizing: border-box;
}

.jp-nbversion-row:hover {
  background: var(--jp-layout-color2);
}

.jp-nbversion-row.jp-mod-selected {
  background: var(--jp-brand-color3);
}

.jp-nbversion-row.jp-mod-current .jp-nbversion-label {
  font-weight: bold;
}

.jp-nbversion-graph {
  flex: 0 0 auto;
}

.jp-nbversion-edge {
  fill: none;
  stroke-width: 2;
}

.jp-nbversion-dot {
  stroke: var(--jp-layout-color1);
  stroke-width: 1;
}

.jp-nbversion-current-ring {
  fill: none;
  stroke: var(--jp-ui-font-color1);
  stroke-width: 1.5;
}

.jp-nbversion-label {
  flex: 0 0 auto;
  min-width: 2.5em;
  font-weight: 600;
}

.jp-nbversion-cid {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  color: var(--jp-ui-font-color2);
}

.jp-nbversion-fullcid {
  word-break: break-all;
  white-space: normal;
  user-select: all;
}

/* The message takes the room left; it and the chips give way, cut with an ellipsis, one line. */
.jp-nbversion-msg {
  flex: 1 1 auto;
  min-width: 4em;
  overflow: hidden;
  white-space: nowrap;
  text-overflow: ellipsis;
}

/* The metric is never cut: the message and the chips give way first. */
.jp-nbversion-metric {
  flex: 0 0 auto;
  font-family: var(--jp-code-font-family);
  color: var(--jp-ui-font-color1);
}

.jp-nbversion-chip {
  flex: 0 1 auto;
  min-width: 1.2em;
  max-width: 5em;
  overflow: hidden;
  text-overflow: ellipsis;
  padding: 0 5px;
  border-radius: 8px;
  font-size: var(--jp-ui-font-size0);
  border: var(--jp-border-width) solid var(--jp-border-color1);
}

.jp-nbversion-chip.jp-mod-current {
  background: var(--jp-success-color3);
  border-color: var(--jp-success-color1);
}

.jp-nbversion-chip.jp-mod-branch {
  background: var(--jp-brand-color3);
  border-color: var(--jp-brand-color1);
}

.jp-nbversion-chip.jp-mod-tag {
  background: var(--jp-warn-color3);
  border-color: var(--jp-warn-color1);
}

.jp-nbversion-chart {
  padding: 4px 8px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  flex: 0 0 auto;
}

.jp-nbversion-chart-empty {
  color: var(--jp-ui-font-color2);
}

.jp-nbversion-chart-head {
  display: flex;
  justify-content: space-between;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.jp-nbversion-series {
  fill: none;
  stroke-width: 1.5;
  opacity: 0.6;
}

.jp-nbversion-series.jp-mod-current {
  stroke-width: 2.5;
  opacity: 1;
}

.jp-nbversion-chart-current {
  stroke: var(--jp-ui-font-color2);
  stroke-dasharray: 2 2;
}

.jp-nbversion-legend {
  display: flex;
  flex-wrap: wrap;
  gap: 8px;
  font-size: var(--jp-ui-font-size0);
}

.jp-nbversion-legend-item::before {
  content: '';
  display: inline-block;
  width: 10px;
  height: 2px;
  margin-right: 3px;
  vertical-align: middle;
  background: currentcolor;
}

.jp-nbversion-details {
  flex: 0 0 auto;
  max-height: 50%;
  overflow: auto;
  padding: 6px 8px;
  border-top: var(--jp-border-width) solid var(--jp-border-color1);
  background: var(--jp-layout-color1);
}

.jp-nbversion-details-head {
  display: flex;
  flex-wrap: wrap;
  align-items: baseline;
  gap: 6px;
}

.jp-nbversion-message {
  margin: 4px 0;
  white-space: pre-wrap;
  word-break: break-word;
  font-size: var(--jp-ui-font-size2);
}

.jp-nbversion-actions {
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  margin: 6px 0;
  align-items: center;
}

.jp-nbversion-busy {
  color: var(--jp-ui-font-color2);
}

.jp-nbversion-fields {
  display: grid;
  grid-template-columns: max-content 1fr;
  gap: 2px 8px;
  margin: 6px 0;
}

.jp-nbversion-fields dt {
  color: var(--jp-ui-font-color2);
}

.jp-nbversion-fields dd {
  margin: 0;
  word-break: break-word;
}

.jp-nbversion-table {
  border-collapse: collapse;
  margin: 4px 0;
  width: 100%;
}

.jp-nbversion-table th,
.jp-nbversion-table td {
  text-align: left;
  padding: 1px 6px 1px 0;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color3);
  word-break: break-word;
}

.jp-nbversion-table tr.jp-mod-selected td {
  font-weight: bold;
}

.jp-nbversion-status-changed td,
.jp-nbversion-status-added td,
.jp-nbversion-status-removed td {
  color: var(--jp-warn-color0);
}

.jp-nbversion-section summary {
  cursor: pointer;
  margin: 4px 0;
}

.jp-nbversion-source {
  margin: 0;
  padding: 4px 6px;
  background: var(--jp-cell-editor-background);
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
  word-break: break-word;
}

/* Lane colours (edges, dots, chart series). */
.jp-nbversion-c0 {
  stroke: #1f77b4;
  fill: #1f77b4;
  color: #1f77b4;
}
.jp-nbversion-c1 {
  stroke: #ff7f0e;
  fill: #ff7f0e;
  color: #ff7f0e;
}
.jp-nbversion-c2 {
  stroke: #2ca02c;
  fill: #2ca02c;
  color: #2ca02c;
}
.jp-nbversion-c3 {
  stroke: #d62728;
  fill: #d62728;
  color: #d62728;
}
.jp-nbversion-c4 {
  stroke: #9467bd;
  fill: #9467bd;
  color: #9467bd;
}
.jp-nbversion-c5 {
  stroke: #8c564b;
  fill: #8c564b;
  color: #8c564b;
}
.jp-nbversion-c6 {
  stroke: #e377c2;
  fill: #e377c2;
  color: #e377c2;
}
.jp-nbversion-c7 {
  stroke: #17becf;
  fill: #17becf;
  color: #17becf;
}

.jp-nbversion-edge[class*='jp-nbversion-c'],
.jp-nbversion-series[class*='jp-nbversion-c'] {
  fill: none;
}

/* The cloud badge of a version on remotes; its tooltip names them. */
.jp-nbversion-remote {
  flex: 0 0 auto;
  display: inline-flex;
  align-items: center;
  color: var(--jp-brand-color1);
}

.jp-nbversion-remote.jp-mod-queued {
  color: var(--jp-ui-font-color3);
}

.jp-nbversion-remote.jp-mod-failed {
  color: var(--jp-error-color1);
}

.jp-nbversion-remote.jp-mod-pinned {
  color: var(--jp-success-color1);
}

/* Announced by peers (%nbversion watch), and a Load's progress */
.jp-nbversion-announced {
  margin: 4px 8px;
}

.jp-nbversion-announced-row {
  padding: 3px 0;
  border-bottom: 1px solid var(--jp-border-color2);
}

.jp-nbversion-announced-line {
  display: flex;
  align-items: center;
  gap: 6px;
  min-width: 0;
}

.jp-nbversion-announced-from {
  flex: 1 1 auto;
  min-width: 0;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jp-nbversion-announced-row .jp-nbversion-msg {
  flex: 1 1 6em;
  min-width: 0;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jp-nbversion-progress {
  display: inline-flex;
  align-items: center;
  gap: 4px;
}

.jp-nbversion-progress progress {
  width: 8em;
}

/* The same Load on the version's row in the graph: a slim bar along the row's foot, past the
   graph's lanes, filled by a transform (an update costs no layout). */
.jp-nbversion-row-progress {
  position: absolute;
  right: 8px;
  bottom: 2px;
  height: 3px;
  border-radius: 2px;
  overflow: hidden;
  background: var(--jp-layout-color3);
}

.jp-nbversion-row-progress-fill {
  height: 100%;
  background: var(--jp-brand-color1);
  transform-origin: left center;
  transition: transform 0.1s linear;
}

@media (prefers-reduced-motion: reduce) {
  .jp-nbversion-row-progress-fill {
    transition: none;
  }
}

/* Data versions: a small disk-stack badge on their rows (named for screen readers), a "data"
   chip in the details, and the data links of a model version as links. */
.jp-nbversion-kind {
  flex: 0 0 auto;
  display: inline-flex;
  align-items: center;
  color: var(--jp-info-color1);
}

.jp-nbversion-chip.jp-mod-data {
  background: var(--jp-info-color3);
  border-color: var(--jp-info-color1);
}

/* Visually hidden, read by screen readers. */
.jp-nbversion-sr {
  position: absolute;
  width: 1px;
  height: 1px;
  margin: -1px;
  padding: 0;
  overflow: hidden;
  clip: rect(0 0 0 0);
  white-space: nowrap;
  border: 0;
}

.jp-nbversion-link {
  padding: 0;
  border: none;
  background: none;
  color: var(--jp-content-link-color);
  font: inherit;
  text-decoration: underline;
  cursor: pointer;
}

.jp-nbversion-link:disabled {
  color: inherit;
  text-decoration: none;
  cursor: default;
}

.jp-nbversion-provenance {
  word-break: break-word;
}

.jp-nbversion-classes {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}
`,""]),e.d(r,{},{A:a})},22(o){o.exports=function(o){var r=[];return r.toString=function(){return this.map(function(r){var e="",n=void 0!==r[5];return r[4]&&(e+="@supports (".concat(r[4],") {")),r[2]&&(e+="@media ".concat(r[2]," {")),n&&(e+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),e+=o(r),n&&(e+="}"),r[2]&&(e+="}"),r[4]&&(e+="}"),e}).join("")},r.i=function(o,e,n,i,t){"string"==typeof o&&(o=[[null,o,void 0]]);var a={};if(n)for(var s=0;s<this.length;s++){var p=this[s][0];null!=p&&(a[p]=!0)}for(var l=0;l<o.length;l++){var d=[].concat(o[l]);n&&a[d[0]]||(void 0!==t&&(void 0===d[5]||(d[1]="@layer".concat(d[5].length>0?" ".concat(d[5]):""," {").concat(d[1],"}")),d[5]=t),e&&(d[2]&&(d[1]="@media ".concat(d[2]," {").concat(d[1],"}")),d[2]=e),i&&(d[4]?(d[1]="@supports (".concat(d[4],") {").concat(d[1],"}"),d[4]=i):d[4]="".concat(i)),r.push(d))}},r}},21(o){o.exports=function(o){return o[1]}},14(o){var r=[];function e(o){for(var e=-1,n=0;n<r.length;n++)if(r[n].identifier===o){e=n;break}return e}function n(o,n){for(var i={},t=[],a=0;a<o.length;a++){var s=o[a],p=n.base?s[0]+n.base:s[0],l=i[p]||0,d="".concat(p," ").concat(l);i[p]=l+1;var c=e(d),v={css:s[1],media:s[2],sourceMap:s[3],supports:s[4],layer:s[5]};if(-1!==c)r[c].references++,r[c].updater(v);else{var b=function(o,r){var e=r.domAPI(r);return e.update(o),function(r){r?(r.css!==o.css||r.media!==o.media||r.sourceMap!==o.sourceMap||r.supports!==o.supports||r.layer!==o.layer)&&e.update(o=r):e.remove()}}(v,n);n.byIndex=a,r.splice(a,0,{identifier:d,updater:b,references:1})}t.push(d)}return t}o.exports=function(o,i){var t=n(o=o||[],i=i||{});return function(o){o=o||[];for(var a=0;a<t.length;a++){var s=e(t[a]);r[s].references--}for(var p=n(o,i),l=0;l<t.length;l++){var d=e(t[l]);0===r[d].references&&(r[d].updater(),r.splice(d,1))}t=p}}},16(o){var r={};o.exports=function(o,e){var n=function(o){if(void 0===r[o]){var e=document.querySelector(o);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(o){e=null}r[o]=e}return r[o]}(o);if(!n)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");n.appendChild(e)}},18(o){o.exports=function(o){var r=document.createElement("style");return o.setAttributes(r,o.attributes),o.insert(r,o.options),r}},17(o,r,e){o.exports=function(o){var r=e.nc;r&&o.setAttribute("nonce",r)}},15(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=o.insertStyleElement(o);return{update:function(e){var n,i,t;n="",e.supports&&(n+="@supports (".concat(e.supports,") {")),e.media&&(n+="@media ".concat(e.media," {")),(i=void 0!==e.layer)&&(n+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),n+=e.css,i&&(n+="}"),e.media&&(n+="}"),e.supports&&(n+="}"),(t=e.sourceMap)&&"u">typeof btoa&&(n+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(t))))," */")),o.styleTagTransform(n,r,o.options)},remove:function(){var o;null===(o=r).parentNode||o.parentNode.removeChild(o)}}}},19(o){o.exports=function(o,r){if(r.styleSheet)r.styleSheet.cssText=o;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(o))}}},13(o,r,e){var n=e(14),i=e.n(n),t=e(15),a=e.n(t),s=e(16),p=e.n(s),l=e(17),d=e.n(l),c=e(18),v=e.n(c),b=e(19),f=e.n(b),u=e(20),j={};j.styleTagTransform=f(),j.setAttributes=d(),j.insert=p().bind(null,"head"),j.domAPI=a(),j.insertStyleElement=v(),i()(u.A,j),u.A&&u.A.locals&&u.A.locals}}]);