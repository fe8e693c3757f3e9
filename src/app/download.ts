// Saves bytes or text the page made as a file in the person's downloads (an object URL clicked
// through a temporary link; revoked once the browser has had time to start the download).
export function saveFile(fileName: string, contents: Uint8Array | string | Blob, type: string): void {
  const blob = contents instanceof Blob ? contents : new Blob([contents as Uint8Array<ArrayBuffer> | string], { type });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A name safe in a file name: runs of other characters become '_'. */
export function fileNamePart(text: string): string {
  return text.replace(/[^\w.-]+/g, '_');
}
