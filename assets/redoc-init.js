// Runs before ReDoc's bundle. ReDoc 2 puts an <img> of its logo from cdn.redoc.ly at the foot of its
// side menu, with no option to leave it out; this page must work offline and ask no other origin for
// anything. So an image whose source is on another origin is hidden instead of being given that
// source (through the src property or the attribute), and the browser never requests it.
(function () {
  "use strict";
  function foreign(value) {
    var url = new URL(String(value), document.baseURI);
    return url.protocol !== "data:" && url.protocol !== "blob:" && url.origin !== location.origin;
  }
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      if (foreign(value)) {
        this.hidden = true;
        return;
      }
      src.set.call(this, value);
    },
  });
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src" && foreign(value)) {
      this.hidden = true;
      return;
    }
    return setAttribute.call(this, name, value);
  };
})();
